import type { Profile } from '../config/profile.js';
import { estimateBackfill, prepareBackfill, runBackfill, type BackfillEstimate } from '../backfill/backfill.js';
import { readControl, setControl, type ControlState } from '../backfill/control.js';
import { countCoverage, type Coverage } from '../backfill/coverage.js';
import { chunkCount, DEFAULT_CHUNK_SIZE, parseFilter, type RowFilter } from '../backfill/plan.js';
import { createThrottles } from '../backfill/throttle.js';
import { runWorker, type WorkerOptions, type WorkerStats } from '../backfill/worker.js';
import { ConfigError } from '../errors.js';
import type { Source } from '../source/source.js';
import { retryTransient } from '../db/transient.js';
import { buildIndex, type BuildIndexResult, type IndexProgress } from '../store/index.js';
import { capturingProfiles } from '../store/registry.js';
import type { FacadeCore } from './core.js';

/** `column=value`, or already split: only source rows whose column equals the value. */
export type RowFilterInput = string | RowFilter;

export function toFilter(filter: RowFilterInput | null | undefined, source: Source): RowFilter | null {
  if (!filter) return null;
  return typeof filter === 'string'
    ? parseFilter(filter, source)
    : parseFilter(`${filter.column}=${filter.value}`, source);
}

/** What a backfill would do (`reembed backfill --dry-run`): rows, tokens, cost, time, chunks. */
export interface BackfillPlanReport extends BackfillEstimate {
  dryRun: true;
  chunkSize: number;
  chunks: number;
  /** `--limit`: `toEmbed`, tokens, cost and time count only the first this many rows (null: all). */
  limit: number | null;
}

/** What a backfill run did (`reembed backfill`). */
export interface BackfillRunReport {
  profile: string;
  embedded: number;
  deferred: number;
  /** Tokens the provider reported, else counted or estimated (see estimatedTokens). */
  tokens: number;
  /** The part of `tokens` that is an estimate (the provider reported no usage); 0: exact. */
  estimatedTokens: number;
  /** tokens × price_per_million_tokens; estimated when any of the tokens are. Null without a price. */
  cost: { usd: number; estimated: boolean } | null;
  rateLimited: number;
  seconds: number;
  coverage: Coverage;
  /** The index built at the end (null: not asked for, stopped early, or coverage short of 100%). */
  index: BuildIndexResult | null;
  /** The signal stopped the run before the end (rerun to resume). */
  stopped: boolean;
}

export interface BackfillRunOptions {
  workers?: number;
  /** Stop after embedding this many rows. */
  limit?: number;
  filter?: RowFilterInput | null;
  /** Rows per chunk of the id space (default 1000). */
  chunkSize?: number;
  pageSize?: number;
  leaseSeconds?: number;
  maxAttempts?: number;
  /** Build the index (HNSW or IVFFlat) at the end when coverage is 100% (default false; the CLI's default is true). */
  index?: boolean;
  signal?: AbortSignal;
  /** Called once the chunks are planned, before any embedding. */
  onStart?: (start: { toEmbed: number; sourceRows: number; chunks: number; workers: number }) => void;
  onProgress?: (stats: WorkerStats) => void;
  onTransientError?: WorkerOptions['onTransientError'];
  /** Called when the workers are done and the index build begins. */
  onIndexStart?: () => void;
  onIndexProgress?: (progress: IndexProgress) => void;
  embedderOptions?: WorkerOptions['embedderOptions'];
}

/** `{ profile, ...control }`: the pause and throttle state after a change. */
export interface BackfillControlReport extends ControlState {
  profile: string;
}

export interface BackfillStatusReport {
  profile: string;
  coverage: Coverage;
  control: ControlState;
}

export interface WorkOptions extends Omit<
  WorkerOptions,
  'source' | 'profiles' | 'workerId' | 'throttles' | 'indexWhenComplete' | 'mode'
> {
  /** Profiles to work for (default: every profile whose capture is on). */
  profiles?: string[];
  /** Workers in this process (default 1). */
  workers?: number;
  /** Return when no work is left (default: serve the queue until the signal). */
  drain?: boolean;
  /** Called once the profiles are known, before any work. */
  onStart?: (start: { profiles: string[]; workers: number; database: string }) => void;
}

export async function planReport(
  core: FacadeCore,
  name: string,
  options: { filter?: RowFilterInput | null; chunkSize?: number; limit?: number } = {},
): Promise<BackfillPlanReport> {
  const profile = core.profile(name);
  const db = await core.database();
  const source = await core.source();
  const estimate = await estimateBackfill(db, source, profile, toFilter(options.filter, source), options.limit);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  return {
    dryRun: true,
    ...estimate,
    chunkSize,
    chunks: chunkCount(estimate.rows, chunkSize),
    limit: options.limit ?? null,
  };
}

export async function runReport(
  core: FacadeCore,
  name: string,
  options: BackfillRunOptions = {},
): Promise<BackfillRunReport> {
  const profile = core.profile(name);
  const db = await core.database();
  const source = await core.source();
  const filter = toFilter(options.filter, source);
  const estimate = await estimateBackfill(db, source, profile, filter);
  const plan = await prepareBackfill(db, source, profile, core.manifest.profiles, {
    chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
    filter,
  });
  const workers = options.workers ?? 1;
  options.onStart?.({ toEmbed: estimate.toEmbed, sourceRows: plan.sourceRows, chunks: plan.chunks, workers });
  const run = await runBackfill(db, {
    source,
    profiles: [profile],
    workers,
    limit: options.limit,
    pageSize: options.pageSize,
    leaseSeconds: options.leaseSeconds,
    maxAttempts: options.maxAttempts,
    signal: options.signal,
    onTransientError: options.onTransientError,
    onProgress: options.onProgress,
    embedderOptions: options.embedderOptions,
  });
  const stopped = Boolean(options.signal?.aborted);
  // The index goes in after the bulk load (much faster than maintaining it row by row);
  // later live changes keep it up to date.
  let index: BuildIndexResult | null = null;
  if (options.index && !stopped && run.coverage.ratio === 1) {
    options.onIndexStart?.();
    // A server restart during the build is retried like the backfill's own steps (a failed
    // concurrent build leaves an INVALID index, which the next build drops).
    index = await retryTransient(() => buildIndex(db, profile, { onProgress: options.onIndexProgress }), {
      signal: options.signal,
      onRetry: options.onTransientError,
    });
  }
  const sum = (pick: (w: WorkerStats) => number) => run.workers.reduce((a, w) => a + pick(w), 0);
  return {
    profile: profile.name,
    embedded: sum((w) => w.rowsEmbedded),
    deferred: sum((w) => w.rowsDeferred),
    tokens: sum((w) => w.tokens),
    estimatedTokens: sum((w) => w.estimatedTokens),
    cost: tokenCost(
      profile,
      sum((w) => w.tokens),
      sum((w) => w.estimatedTokens),
    ),
    rateLimited: sum((w) => w.rateLimited),
    seconds: run.seconds,
    coverage: run.coverage,
    index,
    stopped: Boolean(options.signal?.aborted),
  };
}

export async function controlReport(
  core: FacadeCore,
  name: string,
  change: Partial<ControlState>,
): Promise<BackfillControlReport> {
  core.profile(name);
  const state = await setControl(await core.database(), name, change, core.actor);
  return { profile: name, ...state };
}

export async function statusReport(core: FacadeCore, name: string): Promise<BackfillStatusReport> {
  const profile = core.profile(name);
  const db = await core.database();
  const coverage = await countCoverage(db, await core.source(), profile);
  const control = (await readControl(db, [profile.name])).get(profile.name)!;
  return { profile: profile.name, coverage, control };
}

export async function coverage(core: FacadeCore, name: string): Promise<Coverage> {
  const profile = core.storedProfile(name);
  return countCoverage(await core.database(), await core.source(), profile);
}

/** Workers in this process for the capturing profiles (`reembed worker`); their index built when complete. */
export async function work(core: FacadeCore, options: WorkOptions = {}): Promise<WorkerStats[]> {
  const db = await core.database();
  const { profiles: only, workers = 1, drain, onStart, ...rest } = options;
  const names = only?.length ? only : await capturingProfiles(db);
  if (!names.length)
    throw new ConfigError(
      'no profile has capture on: start one with `reembed backfill --profile NAME`, or pass --profile',
    );
  const profiles = names.map((n) => core.profile(n));
  const source = await core.source();
  onStart?.({ profiles: names, workers, database: db.target });
  const throttles = createThrottles(profiles);
  return Promise.all(
    Array.from({ length: workers }, () =>
      runWorker(db, {
        ...rest,
        source,
        profiles,
        mode: drain ? 'drain' : 'forever',
        throttles,
        indexWhenComplete: true,
      }),
    ),
  );
}

/** What `tokens` cost at the profile's price, and whether that is an estimate. */
export function tokenCost(
  profile: Pick<Profile, 'price_per_million_tokens'>,
  tokens: number,
  estimatedTokens: number,
): { usd: number; estimated: boolean } | null {
  const price = profile.price_per_million_tokens;
  return price === undefined ? null : { usd: (tokens / 1e6) * price, estimated: estimatedTokens > 0 };
}
