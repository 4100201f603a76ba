import { ConfigError, ProfileGateError } from '../errors.js';
import type { Manifest } from './manifest.js';

/** Environments where any profile may be chosen with EMBEDDINGS_PROFILE. */
export const DEVELOPMENT_ENVIRONMENTS = ['development', 'dev', 'test'] as const;

/** REEMBED_ENV, else ENV, else NODE_ENV, else development. */
export function environmentName(env: NodeJS.ProcessEnv = process.env): string {
  return [env.REEMBED_ENV, env.ENV, env.NODE_ENV].map((v) => v?.trim()).find((v) => v) ?? 'development';
}

export type OverrideAllowance =
  'development environment' | 'EMBEDDING_PROFILE_SWAPPABLE' | 'EMBEDDING_PROFILE_EXPERIMENT';

/** What the gate decided for one environment. */
export interface ProfileResolution {
  environment: string;
  /** The environment's baseline profile from the manifest (null when the manifest has none). */
  baseline: string | null;
  /** EMBEDDINGS_PROFILE, when set. */
  override: string | null;
  /** The profile in use: the override when allowed, else the baseline. Null on a violation. */
  active: string | null;
  swappable: boolean;
  experiment: string | null;
  /**
   * EMBEDDING_STRICT_MODE=true: the process refuses to serve its profile while that profile's
   * store is not ready (backfill incomplete, dead letters, workers behind, coverage under
   * rollout.min_coverage), instead of serving partial results.
   */
  strict: boolean;
  /**
   * EMBEDDING_NAMESPACE_MODE: `shared` (default), a profile's store (`reembed.emb_<profile>`) is
   * shared by every environment whose processes use that profile on the database; `isolated`, an
   * environment claims the profile it serves, and a process of another environment refuses to
   * serve it, so each environment needs a profile (and so a store) of its own.
   */
  namespace: NamespaceMode;
  /** Why an override different from the baseline is allowed. */
  allowedBy: OverrideAllowance | null;
  /** Why this environment cannot start, when it cannot. */
  violation: string | null;
}

export const NAMESPACE_MODES = ['shared', 'isolated'] as const;
export type NamespaceMode = (typeof NAMESPACE_MODES)[number];

/** EMBEDDING_NAMESPACE_MODE, `shared` when unset; anything else is a configuration error. */
export function namespaceMode(env: NodeJS.ProcessEnv = process.env): NamespaceMode {
  const raw = env.EMBEDDING_NAMESPACE_MODE?.trim().toLowerCase();
  if (!raw) return 'shared';
  if ((NAMESPACE_MODES as readonly string[]).includes(raw)) return raw as NamespaceMode;
  throw new ConfigError(
    `EMBEDDING_NAMESPACE_MODE=${JSON.stringify(env.EMBEDDING_NAMESPACE_MODE)} is not one of ${NAMESPACE_MODES.join(', ')}`,
  );
}

function flag(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

/**
 * The rollout runbook's gating rule. The active profile is the environment's baseline unless
 * EMBEDDINGS_PROFILE names another; that override is accepted only in a development
 * environment, or with EMBEDDING_PROFILE_SWAPPABLE=true, or when EMBEDDING_PROFILE_EXPERIMENT
 * names the same profile. Anything else is a violation, never a silent swap. Outside
 * development, EMBEDDINGS_PROFILE set to anything but the experiment is a violation even when it
 * names the baseline (it would hide a misconfigured experiment).
 */
export function resolveProfile(
  manifest: Manifest,
  env: NodeJS.ProcessEnv = process.env,
  environment = environmentName(env),
): ProfileResolution {
  // The environment's own entry, else the manifest-wide default_profile.
  const baseline = manifest.environments.get(environment)?.profile ?? manifest.defaultProfile ?? null;
  const override = env.EMBEDDINGS_PROFILE?.trim() || null;
  const swappable = flag(env.EMBEDDING_PROFILE_SWAPPABLE);
  const experiment = env.EMBEDDING_PROFILE_EXPERIMENT?.trim() || null;
  const strict = flag(env.EMBEDDING_STRICT_MODE);
  const base = { environment, baseline, override, swappable, experiment, strict, namespace: namespaceMode(env) };

  if (override && !manifest.profiles.has(override)) {
    return {
      ...base,
      active: null,
      allowedBy: null,
      violation: `EMBEDDINGS_PROFILE=${override} names no profile in the manifest (known: ${[...manifest.profiles.keys()].join(', ') || 'none'})`,
    };
  }
  const development = (DEVELOPMENT_ENVIRONMENTS as readonly string[]).includes(environment);
  // The runbook's rule, exactly: outside development, EMBEDDINGS_PROFILE may only name the
  // experiment (or anything, when swappable), even when it names the baseline itself. (An
  // override naming another profile is refused below, with the reasons it could be allowed.)
  if (override && override === baseline && !development && !swappable && override !== experiment) {
    return {
      ...base,
      active: null,
      allowedBy: null,
      violation:
        `EMBEDDINGS_PROFILE=${override} is set in environment ${JSON.stringify(environment)}, which is not allowed: ` +
        `outside ${DEVELOPMENT_ENVIRONMENTS.join('/')} environments it must equal EMBEDDING_PROFILE_EXPERIMENT ` +
        `(${experiment ? `which is ${experiment}` : 'unset'}), unless EMBEDDING_PROFILE_SWAPPABLE=true; ` +
        `to serve the baseline ${baseline}, unset EMBEDDINGS_PROFILE`,
    };
  }
  if (!override || override === baseline) {
    if (!baseline) {
      return {
        ...base,
        active: null,
        allowedBy: null,
        violation:
          `environment ${JSON.stringify(environment)} has no baseline profile: add \`environments: { ${environment}: { profile: NAME } }\` ` +
          `or \`default_profile: NAME\` to the manifest${manifest.environments.size ? ` (it has: ${[...manifest.environments.keys()].join(', ')})` : ''}, or set REEMBED_ENV`,
      };
    }
    return { ...base, active: baseline, allowedBy: null, violation: null };
  }
  const allowedBy: OverrideAllowance | null = development
    ? 'development environment'
    : swappable
      ? 'EMBEDDING_PROFILE_SWAPPABLE'
      : experiment === override
        ? 'EMBEDDING_PROFILE_EXPERIMENT'
        : null;
  if (allowedBy) return { ...base, active: override, allowedBy, violation: null };
  return {
    ...base,
    active: null,
    allowedBy: null,
    violation:
      `EMBEDDINGS_PROFILE=${override} overrides the baseline profile ${baseline ?? '(none)'} of environment ${JSON.stringify(environment)}, ` +
      `which is not allowed: overrides are accepted only in ${DEVELOPMENT_ENVIRONMENTS.join('/')} environments, ` +
      `with EMBEDDING_PROFILE_SWAPPABLE=true, or with EMBEDDING_PROFILE_EXPERIMENT=${override}` +
      (experiment ? ` (EMBEDDING_PROFILE_EXPERIMENT is ${experiment})` : ''),
  };
}

/** Resolves the active profile for start-up, failing loudly on a violation. */
export function activeProfileName(
  manifest: Manifest,
  env: NodeJS.ProcessEnv = process.env,
  environment?: string,
): ProfileResolution & { active: string } {
  const resolution = resolveProfile(manifest, env, environment);
  if (resolution.violation || !resolution.active) {
    const message = resolution.violation ?? 'no active profile';
    if (resolution.override && !manifest.profiles.has(resolution.override)) throw new ConfigError(message);
    throw new ProfileGateError(message, { ...resolution });
  }
  return resolution as ProfileResolution & { active: string };
}
