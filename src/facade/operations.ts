import { parseDuration } from '../config/duration.js';
import { environmentName, resolveProfile, type ProfileResolution } from '../config/environment.js';
import { checkProfileEnvironment, getProfile } from '../config/manifest.js';
import { redactSecrets } from '../redact.js';
import type { Profile } from '../config/profile.js';
import { databaseTimeAgo } from '../db/clock.js';
import type { CreateEmbedderOptions } from '../embedders/create.js';
import { removeCapture } from '../source/capture.js';
import type { LoadFormat } from '../source/document-shapes.js';
import type { LoadInput, LoadProgress, LoadResult } from '../source/load.js';
import { stopAllCapture } from '../store/registry.js';
import { activeMigration } from '../migration/state.js';
import { canaryShare, type CanaryShare } from '../telemetry/canary-share.js';
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
  /** Reported by the provider, else counted or estimated (tokensEstimated). */
  tokens: number;
  tokensEstimated: boolean;
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
  // The providers (and their SDKs) load when a command embeds, not when the facade does.
  const { createEmbedder } = await import('../embedders/create.js');
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
    tokensEstimated: result.usage.estimatedTokens > 0,
    truncated: result.truncated > 0,
    latencyMs,
    vector,
  };
}

/** One profile's answer to `reembed profiles check --probe`. */
export interface ProbeResult {
  profile: string;
  provider: string;
  model: string | null;
  ok: boolean;
  /** Dimensions of the vector returned (null when none came back). */
  dims: number | null;
  expectedDims: number;
  latencyMs: number | null;
  error: { code: string; message: string } | null;
}

/**
 * Embeds one short text with each profile (default: all of the manifest), once, without
 * retries and within `timeoutMs`: which providers answer, with the dimensions the profile says.
 */
export async function probeProfiles(
  core: FacadeCore,
  options: { profiles?: string[]; timeoutMs?: number; embedderOptions?: CreateEmbedderOptions } = {},
): Promise<ProbeResult[]> {
  const names = options.profiles ?? [...core.manifest.profiles.keys()];
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { createEmbedder } = await import('../embedders/create.js');
  const results: ProbeResult[] = [];
  for (const name of names) {
    const declared = getProfile(core.manifest, name);
    const base = {
      profile: name,
      provider: declared.provider,
      model: declared.model ?? null,
      expectedDims: declared.dims,
    };
    const started = performance.now();
    try {
      // One attempt, bounded: a probe says what is wrong now, it does not wait for it to heal.
      const profile = { ...core.profile(name), max_retries: 0, timeout_ms: Math.min(declared.timeout_ms, timeoutMs) };
      const result = await createEmbedder(profile, options.embedderOptions).embed(['reembed probe'], 'query');
      const dims = result.vectors[0]?.length ?? null;
      results.push({ ...base, ok: dims === declared.dims, dims, latencyMs: performance.now() - started, error: null });
    } catch (error) {
      const e = error as { code?: unknown; message?: unknown };
      results.push({
        ...base,
        ok: false,
        dims: null,
        latencyMs: performance.now() - started,
        error: {
          code: typeof e.code === 'string' ? e.code : 'ERROR',
          message: redactSecrets(typeof e.message === 'string' ? e.message : String(error)),
        },
      });
    }
  }
  return results;
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
  const { loadDocuments, openLoadInput, requireManagedSource } = await import('../source/load.js');
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
  /** Each profile's figures, with its searches per second averaged over the whole range. */
  profiles: Array<
    ServingSummary & {
      requestsPerSecond: number;
      /** The query tokens' cost from the profile's price_per_million_tokens (null without a price or a profile). */
      queryCost: { tokens: number; usd: number | null; usdPerThousandSearches: number | null };
    }
  >;
  /**
   * The active migration's query cost per 1,000 searches, candidate against control, over the
   * range (the runbook's "reduced embedding API costs confirmed"); null without a migration, a
   * price on both profiles, or searches of both.
   */
  costComparison: {
    control: string;
    candidate: string;
    controlUsdPerThousandSearches: number;
    candidateUsdPerThousandSearches: number;
    /** candidate / control; null when the control costs nothing. */
    ratio: number | null;
  } | null;
  /**
   * The active migration's canary step, when there is one: the share of the step's searches the
   * candidate served against its percentage (all of the step's windows, whatever `since`).
   */
  canary: (CanaryShare & { migration: string; candidate: string; control: string }) | null;
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
  // Searches per second over the range as asked (up to now, or to `until`).
  const end = to ?? (await databaseTimeAgo(db, 0));
  const seconds = (end.getTime() - from.getTime()) / 1000;
  const profiles: MetricsReport['profiles'] = [];
  for (const name of names) {
    const summary = await readServingMetrics(db, name, { from, to });
    const price = core.manifest.profiles.get(name)?.price_per_million_tokens;
    const usd = price === undefined ? null : (summary.queryTokens / 1e6) * price;
    profiles.push({
      ...summary,
      requestsPerSecond: seconds > 0 ? summary.requests / seconds : 0,
      queryCost: {
        tokens: summary.queryTokens,
        usd,
        usdPerThousandSearches: usd === null || summary.requests === 0 ? null : (1000 * usd) / summary.requests,
      },
    });
  }
  const source = await core.source();
  const m = await activeMigration(db, `${source.schemaName}.${source.tableName}`);
  let canary: MetricsReport['canary'] = null;
  if (m && m.phase === 'canary') {
    const step = { from: new Date(0), migration: { id: m.id, version: m.version } };
    const cand = await readServingMetrics(db, m.candidate, step);
    const ctrl = await readServingMetrics(db, m.control, step);
    canary = {
      migration: m.id,
      candidate: m.candidate,
      control: m.control,
      ...canaryShare({
        percent: m.percent,
        segmentsOn: m.targeting.segments.length > 0,
        candidateRequests: cand.requests,
        candidateFallbacks: cand.fallbacks,
        controlRequests: ctrl.requests,
      }),
    };
  }
  const perThousand = (name: string) => profiles.find((p) => p.profile === name)?.queryCost.usdPerThousandSearches;
  const [controlCost, candidateCost] = m ? [perThousand(m.control), perThousand(m.candidate)] : [null, null];
  const costComparison: MetricsReport['costComparison'] =
    m && typeof controlCost === 'number' && typeof candidateCost === 'number'
      ? {
          control: m.control,
          candidate: m.candidate,
          controlUsdPerThousandSearches: controlCost,
          candidateUsdPerThousandSearches: candidateCost,
          ratio: controlCost > 0 ? candidateCost / controlCost : null,
        }
      : null;
  return {
    since: from.toISOString(),
    ...(to ? { until: to.toISOString() } : {}),
    profiles,
    canary,
    costComparison,
  };
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
