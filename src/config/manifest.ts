import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { profileFingerprint } from './fingerprint.js';
import { imageRefOf, profileSchema, type Profile } from './profile.js';
import { parseRollout, type RolloutConfig } from './rollout.js';
import { parseAlerts, type AlertsConfig } from './alerts.js';
import { parseRouter, type RouterSettings } from './router.js';
import { parseTemplate, templateColumns } from './template.js';

import { DEFAULT_CONFIG_FILE } from './defaults.js';

export { DEFAULT_CONFIG_FILE };
export const MANAGED_TEXT_TEMPLATE = '{content}';
/** Columns a managed source offers to templates. */
export const MANAGED_COLUMNS = ['id', 'content'] as const;

const sourceSchema = z.union([
  z.object({ managed: z.literal(true), text: z.string().default(MANAGED_TEXT_TEMPLATE) }).strict(),
  z
    .object({
      managed: z.literal(false).optional(),
      table: z.string().min(1),
      id: z.string().min(1).default('id'),
      text: z.string().min(1),
      /** Optional list of the table's columns, so templates can be checked without a database. */
      columns: z.array(z.string().min(1)).optional(),
    })
    .strict(),
]);

const environmentSchema = z.object({ profile: z.string().min(1) }).strict();

const manifestSchema = z
  .object({
    database: z.string().min(1).optional(),
    include: z.array(z.string().min(1)).default([]),
    source: sourceSchema.default({ managed: true, text: MANAGED_TEXT_TEMPLATE }),
    profiles: z.record(z.string(), z.unknown()).default({}),
    environments: z.record(z.string(), environmentSchema).default({}),
    /** The baseline of every environment without an entry of its own. */
    default_profile: z.string().min(1).optional(),
    rollout: z.unknown().optional(),
    alerts: z.unknown().optional(),
    router: z.unknown().optional(),
  })
  .strict();

const includedSchema = z.object({ profiles: z.record(z.string(), z.unknown()) }).strict();

export type SourceConfig = z.output<typeof sourceSchema>;

export interface Manifest {
  /** Absolute path of the file it was read from, or null for a manifest built in code. */
  path: string | null;
  database?: string;
  source: SourceConfig;
  profiles: Map<string, Profile>;
  environments: Map<string, { profile: string }>;
  /** The baseline of environments without an entry (`default_profile`), if any. */
  defaultProfile?: string;
  /** Steps, interval and gates of automated rollouts (`reembed controller`). */
  rollout: RolloutConfig;
  /** Alert rules and their webhooks (`reembed watch`, and the controller every tick). */
  alerts: AlertsConfig;
  /** Breaker, shadow and request limits of every router opened on this manifest. */
  router: RouterSettings;
}

const PROFILE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

function formatIssues(error: z.ZodError, prefix: string): string[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key(s): ${issue.keys.join(', ')}`;
    return `${path}: ${message}`;
  });
}

function readYaml(path: string, problems: string[]): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    return undefined;
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  for (const e of doc.errors) {
    const dup = /Map keys must be unique/.test(e.message);
    const line = e.linePos?.[0] ? ` (line ${e.linePos[0].line})` : '';
    problems.push(
      `${path}${line}: ${dup ? 'duplicate key (each profile and environment name must be unique)' : e.message.split('\n')[0]}`,
    );
  }
  if (doc.errors.length) return undefined;
  try {
    // The yaml library refuses documents whose aliases would expand beyond maxAliasCount (a
    // "billion laughs"): a configuration problem, not a crash.
    return doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    problems.push(`${path}: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/** Builds and validates a manifest from plain data (what the YAML parses to). */
export function buildManifest(raw: unknown, path: string | null): Manifest {
  const problems: string[] = [];
  const where = path ?? 'manifest';
  const parsed = manifestSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, ''));
  const data = parsed.data;

  const rawProfiles: Array<[string, unknown, string]> = Object.entries(data.profiles).map(([n, p]) => [n, p, where]);
  for (const inc of data.include) {
    const incPath = resolve(path ? dirname(path) : process.cwd(), inc);
    const incRaw = readYaml(incPath, problems);
    if (incRaw === undefined) continue;
    const incParsed = includedSchema.safeParse(incRaw);
    if (!incParsed.success) {
      problems.push(...formatIssues(incParsed.error, incPath));
      continue;
    }
    for (const [name, value] of Object.entries(incParsed.data.profiles)) rawProfiles.push([name, value, incPath]);
  }

  const sourceText = data.source.text;
  const knownColumns: readonly string[] | undefined =
    data.source.managed === true ? MANAGED_COLUMNS : data.source.columns;
  try {
    parseTemplate(sourceText, 'source.text');
    checkColumns(templateColumns(sourceText), knownColumns, 'source.text', problems);
  } catch (error) {
    if (error instanceof ConfigError) problems.push(...error.problems);
    else throw error;
  }

  const profiles = new Map<string, Profile>();
  const origin = new Map<string, string>();
  for (const [name, value, file] of rawProfiles) {
    if (!PROFILE_NAME.test(name)) {
      problems.push(
        `profiles.${name}: a profile name must be 1-48 characters of a-z, 0-9 and _ and start with a letter`,
      );
      continue;
    }
    if (origin.has(name)) {
      problems.push(`profiles.${name}: duplicate profile name (defined in ${origin.get(name)} and ${file})`);
      continue;
    }
    origin.set(name, file);
    const result = profileSchema.safeParse(value);
    if (!result.success) {
      problems.push(...formatIssues(result.error, `profiles.${name}`));
      continue;
    }
    const settings = result.data;
    if (settings.provider !== 'hash' && settings.provider !== 'hash-image' && !settings.model) {
      problems.push(`profiles.${name}: provider ${settings.provider} needs a model`);
    }
    if (settings.base_url && settings.base_url_env) {
      problems.push(`profiles.${name}: give base_url or base_url_env, not both`);
    }
    if (settings.provider === 'openai-compatible' && !settings.base_url && !settings.base_url_env) {
      problems.push(
        `profiles.${name}: provider openai-compatible needs base_url (e.g. http://localhost:11434/v1) or base_url_env`,
      );
    }
    if (settings.provider === 'multimodal' && !settings.base_url && !settings.base_url_env) {
      problems.push(
        `profiles.${name}: provider multimodal needs base_url (e.g. https://api.example.com) or base_url_env`,
      );
    }
    if (settings.provider !== 'hash' && settings.provider !== 'hash-image' && settings.hash) {
      problems.push(`profiles.${name}: hash options apply only to providers hash and hash-image`);
    }
    const template = settings.input?.text ?? settings.template ?? sourceText;
    const where = settings.input ? `profiles.${name}.input.text` : `profiles.${name}.template`;
    try {
      parseTemplate(template, where);
      checkColumns(templateColumns(template), knownColumns, where, problems);
      if (settings.input) {
        checkColumns([imageRefOf(settings)!.column], knownColumns, `profiles.${name}.input.image`, problems);
        if (settings.input.image_version) {
          const version = settings.input.image_version;
          parseTemplate(version, `profiles.${name}.input.image_version`);
          checkColumns(templateColumns(version), knownColumns, `profiles.${name}.input.image_version`, problems);
        }
      }
    } catch (error) {
      if (error instanceof ConfigError) problems.push(...error.problems);
      else throw error;
    }
    // A rerank weights file is named relative to the manifest (or include) that names it.
    const rerank = settings.rerank?.weights
      ? {
          ...settings.rerank,
          weights: resolve(isAbsolute(file) ? dirname(file) : process.cwd(), settings.rerank.weights),
        }
      : settings.rerank;
    profiles.set(name, {
      ...settings,
      ...(rerank ? { rerank } : {}),
      template,
      name,
      fingerprint: profileFingerprint(settings, template),
    });
  }

  const environments = new Map<string, { profile: string }>();
  for (const [envName, value] of Object.entries(data.environments)) {
    if (!profiles.has(value.profile) && !origin.has(value.profile)) {
      problems.push(
        `environments.${envName}.profile: unknown profile ${JSON.stringify(value.profile)}${suggest(value.profile, [...origin.keys()])}`,
      );
    }
    environments.set(envName, value);
  }

  if (data.default_profile !== undefined && !profiles.has(data.default_profile) && !origin.has(data.default_profile))
    problems.push(
      `default_profile: unknown profile ${JSON.stringify(data.default_profile)}${suggest(data.default_profile, [...origin.keys()])}`,
    );

  const rollout = parseRollout(data.rollout, problems);
  const router = parseRouter(data.router, problems);
  const alerts = parseAlerts(data.alerts, problems, new Set([...profiles.keys(), ...origin.keys()]));
  if (problems.length || !rollout || !alerts) throw new ConfigError(problems);
  return {
    path,
    database: data.database,
    source: data.source,
    profiles,
    environments,
    ...(data.default_profile !== undefined ? { defaultProfile: data.default_profile } : {}),
    rollout,
    alerts,
    router,
  };
}

function checkColumns(
  columns: string[],
  known: readonly string[] | undefined,
  where: string,
  problems: string[],
): void {
  if (!known) return;
  for (const c of columns) {
    if (!known.includes(c))
      problems.push(`${where}: unknown template column ${JSON.stringify(c)} (the source has: ${known.join(', ')})`);
  }
}

function suggest(name: string, known: string[]): string {
  return known.length ? ` (known profiles: ${known.join(', ')})` : ' (no profiles are defined)';
}

/** Reads reembed.yaml (or the given path) and validates it. */
export function loadManifest(configPath?: string): Manifest {
  const path = resolve(configPath ?? DEFAULT_CONFIG_FILE);
  if (!existsSync(path)) {
    throw new ConfigError(
      configPath
        ? `config file not found: ${path}`
        : `no ${DEFAULT_CONFIG_FILE} in ${process.cwd()}: run \`reembed init\` to create one, or pass --config FILE`,
    );
  }
  const problems: string[] = [];
  const raw = readYaml(path, problems);
  if (problems.length) throw new ConfigError(problems);
  return buildManifest(raw, path);
}

/**
 * Checks what a profile needs from the environment before it is used (an API key). Kept
 * apart from loading so that a manifest listing a cloud profile still loads on a machine that
 * only uses the hash profile.
 */
export function checkProfileEnvironment(profile: Profile, env: NodeJS.ProcessEnv = process.env): string[] {
  const problems: string[] = [];
  if (profile.api_key_env && !env[profile.api_key_env]) {
    problems.push(`profiles.${profile.name}: the API key variable ${profile.api_key_env} is not set`);
  }
  if (profile.base_url_env) {
    try {
      resolveBaseUrl(profile, env);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return problems;
}

/**
 * The profile with base_url read from base_url_env, when it names one: a URL of http or https,
 * else a ConfigError naming the variable (its value is not printed: it may carry credentials).
 */
export function resolveBaseUrl<P extends { name: string; base_url?: string; base_url_env?: string }>(
  profile: P,
  env: Record<string, string | undefined> = process.env,
): P {
  if (!profile.base_url_env) return profile;
  const value = env[profile.base_url_env]?.trim();
  if (!value) throw new ConfigError(`profiles.${profile.name}: base_url_env ${profile.base_url_env} is not set`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`profiles.${profile.name}: base_url_env ${profile.base_url_env} does not hold a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`profiles.${profile.name}: base_url_env ${profile.base_url_env} must hold an http(s) URL`);
  return { ...profile, base_url: value };
}

export function getProfile(manifest: Manifest, name: string): Profile {
  const profile = manifest.profiles.get(name);
  if (!profile) {
    throw new ConfigError(`unknown profile ${JSON.stringify(name)}${suggest(name, [...manifest.profiles.keys()])}`);
  }
  return profile;
}
