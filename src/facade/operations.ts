import { parseDuration } from '../config/duration.js';
import { environmentName, resolveProfile, type ProfileResolution } from '../config/environment.js';
import { checkProfileEnvironment } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import { databaseTimeAgo } from '../db/clock.js';
import { createEmbedder, type CreateEmbedderOptions } from '../embedders/create.js';
import { removeCapture } from '../source/capture.js';
import type { LoadFormat } from '../source/document-shapes.js';
import {
  loadDocuments,
  openLoadInput,
  requireManagedSource,
  type LoadInput,
  type LoadProgress,
  type LoadResult,
} from '../source/load.js';
import { stopAllCapture } from '../store/registry.js';
import { readServingMetrics, servingProfiles, type ServingSummary } from '../telemetry/serving-metrics.js';
import { pruneServingMetrics, type PruneResult } from '../telemetry/serving-retention.js';
import type { FacadeCore } from './core.js';

/** One environment's row of `reembed profiles check`. */
export interface ProfileMatrixRow extends ProfileResolution {
  /** The environment checked (the current one, or the one asked for). */
  current: boolean;
  /** Why it would refuse to start: a gate violation, a missing API key. */
  problems: string[];
}

/** What `reembed profiles check` prints; `ok` is false when the checked environment would refuse to start. */
export interface ProfileCheckReport {
  environment: string;
  ok: boolean;
  matrix: ProfileMatrixRow[];
}

export function checkProfiles(core: FacadeCore, environment?: string): ProfileCheckReport {
  const manifest = core.manifest;
  const selected = environment ?? environmentName(core.env);
  const names = [...new Set([...manifest.environments.keys(), selected])];
  const matrix: ProfileMatrixRow[] = names.map((env) => {
    const r = resolveProfile(manifest, core.env, env);
    const active = r.active ? manifest.profiles.get(r.active) : undefined;
    const problems = [
      ...(r.violation ? [r.violation] : []),
      ...(active ? checkProfileEnvironment(active, core.env) : []),
    ];
    return { ...r, current: env === selected, problems };
  });
  return { environment: selected, ok: !matrix.some((r) => r.current && r.problems.length > 0), matrix };
}

/** What `reembed embed` prints: one text embedded with a profile, for debugging it. */
export interface EmbedReport {
  profile: string;
  fingerprint: string;
  provider: Profile['provider'];
  model: string | null;
  purpose: 'query' | 'document';
  dims: number;
  norm: number;
  tokens: number;
  truncated: boolean;
  latencyMs: number;
  vector: number[];
}

export async function embedText(
  core: FacadeCore,
  text: string,
  options: { profile?: string; query?: boolean; embedderOptions?: CreateEmbedderOptions } = {},
): Promise<EmbedReport> {
  const profile = core.profile(options.profile ?? core.resolution().active);
  const embedder = createEmbedder(profile, options.embedderOptions);
  const started = performance.now();
  const result = await embedder.embed([text], options.query ? 'query' : 'document');
  const latencyMs = performance.now() - started;
  const vector = Array.from(result.vectors[0]!);
  return {
    profile: profile.name,
    fingerprint: profile.fingerprint,
    provider: profile.provider,
    model: profile.model ?? null,
    purpose: options.query ? 'query' : 'document',
    dims: vector.length,
    norm: Math.sqrt(vector.reduce((s, x) => s + x * x, 0)),
    tokens: result.usage.tokens,
    truncated: result.truncated > 0,
    latencyMs,
    vector,
  };
}

/** What `reembed load` prints. */
export interface LoadReport extends LoadResult {
  database: string;
}

export interface LoadOptions {
  /** Document shape (default auto: beir when the first object has "_id"). */
  format?: LoadFormat;
  /** Documents per INSERT statement (default 500). */
  batchSize?: number;
  /** Called once the input is open, before any row is read. */
  onStart?: (input: { name: string; size: number | null }) => void;
  onProgress?: (progress: LoadProgress) => void;
}

/** Loads a JSON Lines file (or `-`: stdin) into the managed source, in one transaction. */
export async function load(core: FacadeCore, file: string, options: LoadOptions = {}): Promise<LoadReport> {
  requireManagedSource(core.manifest.source);
  const input: LoadInput = openLoadInput(file);
  try {
    const db = await core.database();
    options.onStart?.({ name: input.name, size: input.size });
    const result = await loadDocuments(db, input, {
      format: options.format,
      batchSize: options.batchSize,
      onProgress: options.onProgress,
    });
    return { ...result, database: db.target };
  } finally {
    if (input.stream !== process.stdin) input.stream.destroy();
  }
}

/** A duration in milliseconds, or as text (`15m`, `7d`). */
export type DurationInput = number | string;

const durationMs = (d: DurationInput) => (typeof d === 'number' ? d : parseDuration(d));

/** What `reembed metrics show` prints: the serving windows of every instance, per profile. */
export interface MetricsReport {
  /** Windows written since (ISO time, database clock). */
  since: string;
  /** …and up to this time (ISO, database clock), when `until` was given. */
  until?: string;
  profiles: ServingSummary[];
}

export async function showMetrics(
  core: FacadeCore,
  options: { since?: DurationInput | Date; until?: DurationInput | Date; profiles?: string[] } = {},
): Promise<MetricsReport> {
  const db = await core.database();
  // A Date is a point in time (database clock); a duration is that long before now.
  const at = (d: DurationInput | Date) => (d instanceof Date ? d : databaseTimeAgo(db, durationMs(d)));
  const from = await at(options.since ?? '1h');
  const to = options.until === undefined ? undefined : await at(options.until);
  const names = options.profiles ?? (await servingProfiles(db, from));
  const profiles: ServingSummary[] = [];
  for (const name of names) profiles.push(await readServingMetrics(db, name, { from, to }));
  return { since: from.toISOString(), ...(to ? { until: to.toISOString() } : {}), profiles };
}

/** What `reembed metrics prune` prints. */
export interface PruneReport extends PruneResult {
  /** Windows written before this time (ISO, database clock) were deleted (or counted). */
  olderThan: string;
  dryRun: boolean;
}

export async function pruneMetrics(
  core: FacadeCore,
  options: { olderThan?: DurationInput; dryRun?: boolean } = {},
): Promise<PruneReport> {
  const db = await core.database();
  const olderThan = await databaseTimeAgo(db, durationMs(options.olderThan ?? '30d'));
  const result = await pruneServingMetrics(db, { olderThan, dryRun: options.dryRun });
  return { olderThan: olderThan.toISOString(), dryRun: Boolean(options.dryRun), ...result };
}

/** What `reembed detach` prints. */
export interface DetachReport {
  /** schema.table whose capture triggers were removed. */
  detached: string;
}

/** Removes the capture triggers from the source and turns every profile's capture off (stores and queue kept). */
export async function detach(core: FacadeCore): Promise<DetachReport> {
  const db = await core.database();
  const source = await core.source();
  await db.transaction(async (tx) => {
    await removeCapture(tx, source);
    await stopAllCapture(tx);
  });
  return { detached: `${source.schemaName}.${source.tableName}` };
}
