import { hostname } from 'node:os';
import type { Database, Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';
import { addInto, bucketOf, emptyHistogram, quantile } from './histogram.js';

export const SERVING_METRICS_TABLE = schemaObject('serving_metrics');

/**
 * Every router instance adds its counts per profile and short window here, so the controller
 * sees the traffic of all instances, not of the one process it runs in.
 */
export const servingMetricsMigrations: Migration[] = [
  {
    version: 6,
    name: 'serving metrics',
    sql: `
      CREATE TABLE ${SERVING_METRICS_TABLE} (
        profile text NOT NULL,
        window_start timestamptz NOT NULL,
        instance text NOT NULL,
        window_ms integer NOT NULL,
        -- the migration state the traffic was served under (one per window: routers start a new
        -- window when it changes), so a step's gates count exactly the step's traffic
        migration_id text NOT NULL DEFAULT '',
        migration_version integer NOT NULL DEFAULT 0,
        -- the database's clock when the window was (last) written: measurements select by it, so
        -- a window still being filled is counted by the next measurement, whatever the router's clock
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        -- searches the profile was chosen for; errors: of those, failed, timed out or refused by an open circuit
        requests bigint NOT NULL DEFAULT 0,
        errors bigint NOT NULL DEFAULT 0,
        fallbacks bigint NOT NULL DEFAULT 0,
        breaker_opens bigint NOT NULL DEFAULT 0,
        -- latency of the searches the profile answered, in the buckets of telemetry/histogram.ts
        latency_counts bigint[] NOT NULL,
        latency_sum_ms double precision NOT NULL DEFAULT 0,
        -- shadow comparisons of this (candidate) profile with the control
        shadow_compared bigint NOT NULL DEFAULT 0,
        shadow_errors bigint NOT NULL DEFAULT 0,
        shadow_overlap_sum double precision NOT NULL DEFAULT 0,
        shadow_rbo_sum double precision NOT NULL DEFAULT 0,
        PRIMARY KEY (profile, window_start, instance)
      );
      CREATE INDEX serving_metrics_by_migration ON ${SERVING_METRICS_TABLE} (migration_id, migration_version, recorded_at);`,
  },
  {
    version: 9,
    name: 'serving metrics by time',
    // Retention deletes by age, and a profile's summary over a range reads by it.
    sql: `CREATE INDEX serving_metrics_by_time ON ${SERVING_METRICS_TABLE} (recorded_at);`,
  },
  {
    version: 11,
    name: 'serving metrics fallback reasons',
    // Why the control answered instead of the candidate, counted by reason: "timeout",
    // "breaker_open", "error" or "error:<code>".
    sql: `ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN fallback_reasons jsonb NOT NULL DEFAULT '{}'::jsonb;`,
  },
  {
    version: 15,
    name: 'serving metrics shadow drops',
    // Sampled shadow reads of this (candidate) profile dropped under load, counted by reason:
    // "queue_full" or "too_old".
    sql: `ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN shadow_dropped jsonb NOT NULL DEFAULT '{}'::jsonb;`,
  },
  {
    version: 16,
    name: 'serving metrics query cache',
    // Query vectors found in the process's cache, in the shared table, or embedded by the provider.
    sql: `
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN cache_hits bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN cache_shared_hits bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN cache_misses bigint NOT NULL DEFAULT 0;`,
  },
  {
    version: 18,
    name: 'serving metrics quality signals',
    // The top-1 score of every answered search, and the mean pairwise cosine of the top 5 of a
    // sample of them (router/quality.ts): sums and counts, so windows add up.
    sql: `
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN top1_score_sum double precision NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN top1_count bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN top5_cosine_sum double precision NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN top5_cosine_count bigint NOT NULL DEFAULT 0;`,
  },
  {
    version: 19,
    name: 'serving metrics query tokens',
    // Provider tokens of the query embeddings (cache misses), for the profile's query cost.
    sql: `ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN query_tokens bigint NOT NULL DEFAULT 0;`,
  },
];

/**
 * The rerank stage's counts (router/rerank-stage.ts): searches per arm, rank-1 changes,
 * fallbacks and the stage's latency. Part of schema version 21, which router/rerank-switch.ts
 * owns with the switch table (the one version the stage was given).
 */
export function rerankCountsColumnsSql(): string {
  return `
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN rerank_on bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN rerank_off bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN rerank_fallbacks bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN rerank_changed bigint NOT NULL DEFAULT 0;
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN rerank_latency_counts bigint[] NOT NULL DEFAULT '{}';
      ALTER TABLE ${SERVING_METRICS_TABLE} ADD COLUMN rerank_latency_sum_ms double precision NOT NULL DEFAULT 0;`;
}

/** Quality signals of one answered search: its top-1 score, or (sampled) its top 5's mean pairwise cosine. */
export interface QualitySignal {
  top1Score?: number;
  top5Cosine?: number;
}

/**
 * A search of a profile with a rerank stage: served by the rerank arm (`on`, with whether the
 * reranker changed the first result), by the other arm (`off`), or unreranked because the
 * reranker failed (`fallback`); `latencyMs` is the stage's time (on and fallback).
 */
export interface RerankEvent {
  arm: 'on' | 'off' | 'fallback';
  changed?: boolean;
  latencyMs?: number;
}

/** How a search found its query vector (router/query-cache.ts); `off`: the profile has no cache. */
export type CacheLookup = 'hit' | 'shared_hit' | 'miss' | 'off';

/** What one search the profile was chosen for came to. A fallback names why, as `reasonKey` says. */
export type ServingOutcome =
  | { ok: true; latencyMs: number; embedMs?: number; searchMs?: number }
  | { ok: false; fallback: boolean; reason?: { kind: string; code?: string } };

/** How a fallback reason is counted: the kind, with an error's typed code when it has one. */
export function reasonKey(reason: { kind: string; code?: string } | undefined): string {
  if (!reason) return 'error';
  return reason.kind === 'error' && reason.code ? `error:${reason.code}` : reason.kind;
}

interface Counts {
  requests: number;
  errors: number;
  fallbacks: number;
  fallbackReasons: Record<string, number>;
  breakerOpens: number;
  latency: number[];
  latencySumMs: number;
  shadowCompared: number;
  shadowErrors: number;
  shadowOverlapSum: number;
  shadowRboSum: number;
  cacheHits: number;
  cacheSharedHits: number;
  cacheMisses: number;
  shadowDropped: Record<string, number>;
  top1ScoreSum: number;
  top1Count: number;
  top5CosineSum: number;
  top5CosineCount: number;
  queryTokens: number;
  rerankOn: number;
  rerankOff: number;
  rerankFallbacks: number;
  rerankChanged: number;
  rerankLatency: number[];
  rerankLatencySumMs: number;
}

function emptyCounts(): Counts {
  return {
    requests: 0,
    errors: 0,
    fallbacks: 0,
    fallbackReasons: {},
    breakerOpens: 0,
    latency: emptyHistogram(),
    latencySumMs: 0,
    shadowCompared: 0,
    shadowErrors: 0,
    shadowOverlapSum: 0,
    shadowRboSum: 0,
    cacheHits: 0,
    cacheSharedHits: 0,
    cacheMisses: 0,
    top1ScoreSum: 0,
    top1Count: 0,
    top5CosineSum: 0,
    top5CosineCount: 0,
    queryTokens: 0,
    shadowDropped: {},
    rerankOn: 0,
    rerankOff: 0,
    rerankFallbacks: 0,
    rerankChanged: 0,
    rerankLatency: emptyHistogram(),
    rerankLatencySumMs: 0,
  };
}

function addCounts(target: Record<string, number>, more: Record<string, number>): void {
  for (const [key, n] of Object.entries(more)) target[key] = (target[key] ?? 0) + n;
}

function mergeInto(target: Counts, c: Counts): void {
  target.requests += c.requests;
  target.errors += c.errors;
  target.fallbacks += c.fallbacks;
  addCounts(target.fallbackReasons, c.fallbackReasons);
  target.breakerOpens += c.breakerOpens;
  addInto(target.latency, c.latency);
  target.latencySumMs += c.latencySumMs;
  target.shadowCompared += c.shadowCompared;
  target.shadowErrors += c.shadowErrors;
  target.shadowOverlapSum += c.shadowOverlapSum;
  target.shadowRboSum += c.shadowRboSum;
  target.cacheHits += c.cacheHits;
  target.cacheSharedHits += c.cacheSharedHits;
  target.cacheMisses += c.cacheMisses;
  addCounts(target.shadowDropped, c.shadowDropped);
  target.top1ScoreSum += c.top1ScoreSum;
  target.top1Count += c.top1Count;
  target.top5CosineSum += c.top5CosineSum;
  target.top5CosineCount += c.top5CosineCount;
  target.queryTokens += c.queryTokens;
  target.rerankOn += c.rerankOn;
  target.rerankOff += c.rerankOff;
  target.rerankFallbacks += c.rerankFallbacks;
  target.rerankChanged += c.rerankChanged;
  addInto(target.rerankLatency, c.rerankLatency);
  target.rerankLatencySumMs += c.rerankLatencySumMs;
}

export interface RecorderOptions {
  /**
   * Length of a window (default 10 s): how often an instance writes, and how fresh gates can be.
   * A window starts when the previous one was written; gates count the windows that started
   * inside their range.
   */
  windowMs?: number;
  /** Names this instance in the table (default host:pid). */
  instance?: string;
  onError?: (error: unknown) => void;
}

/**
 * Counts in memory and writes one row per profile and window. A failed write keeps the counts
 * for the next one, so a database blip loses no traffic; `close` writes what is left.
 */
export class ServingMetricsRecorder {
  readonly windowMs: number;
  readonly instance: string;
  private current = new Map<string, Counts>();
  private windowStart: number;
  private migration: MigrationTag = { id: '', version: 0 };
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly unwritten: Window[] = [];

  constructor(
    private readonly db: Database,
    private readonly options: RecorderOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 10_000;
    this.instance = options.instance ?? `${hostname()}:${process.pid}`;
    this.windowStart = Date.now();
  }

  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), this.windowMs);
      this.timer.unref();
    }
    return this;
  }

  /**
   * The migration state searches are served under from now on: the current window is written
   * under the previous one, and a new window begins.
   */
  setMigration(tag: MigrationTag | null): void {
    const next = tag ?? { id: '', version: 0 };
    if (next.id === this.migration.id && next.version === this.migration.version) return;
    void this.flush();
    this.migration = next;
  }

  private counts(profile: string): Counts {
    let c = this.current.get(profile);
    if (!c) this.current.set(profile, (c = emptyCounts()));
    return c;
  }

  /** One search the profile was chosen for: answered (with its latency) or failed. */
  request(profile: string, outcome: ServingOutcome): void {
    const c = this.counts(profile);
    c.requests++;
    if (outcome.ok) {
      c.latency[bucketOf(outcome.latencyMs)]!++;
      c.latencySumMs += outcome.latencyMs;
    } else {
      c.errors++;
      if (outcome.fallback) {
        c.fallbacks++;
        const key = reasonKey(outcome.reason);
        c.fallbackReasons[key] = (c.fallbackReasons[key] ?? 0) + 1;
      }
    }
  }

  breakerOpened(profile: string): void {
    this.counts(profile).breakerOpens++;
  }

  /** A shadow comparison, counted under the candidate. */
  shadow(candidate: string, result: { overlap: number; rbo: number } | null): void {
    const c = this.counts(candidate);
    if (!result) {
      c.shadowErrors++;
      return;
    }
    c.shadowCompared++;
    c.shadowOverlapSum += result.overlap;
    c.shadowRboSum += result.rbo;
  }

  /** A sampled shadow read dropped under load, counted under the candidate by reason. */
  shadowDropped(candidate: string, reason: string): void {
    const c = this.counts(candidate);
    c.shadowDropped[reason] = (c.shadowDropped[reason] ?? 0) + 1;
  }

  /** A quality signal of a search the profile answered; non-finite values are not counted. */
  quality(profile: string, signal: QualitySignal): void {
    const c = this.counts(profile);
    if (signal.top1Score !== undefined && Number.isFinite(signal.top1Score)) {
      c.top1ScoreSum += signal.top1Score;
      c.top1Count++;
    }
    if (signal.top5Cosine !== undefined && Number.isFinite(signal.top5Cosine)) {
      c.top5CosineSum += signal.top5Cosine;
      c.top5CosineCount++;
    }
  }

  /** Provider tokens of a query embedding of the profile (a cache miss). */
  queryTokens(profile: string, tokens: number): void {
    if (Number.isFinite(tokens) && tokens > 0) this.counts(profile).queryTokens += tokens;
  }

  /** A search of the profile's rerank stage. */
  rerank(profile: string, event: RerankEvent): void {
    const c = this.counts(profile);
    if (event.arm === 'on') c.rerankOn++;
    else if (event.arm === 'off') c.rerankOff++;
    else c.rerankFallbacks++;
    if (event.arm === 'on' && event.changed) c.rerankChanged++;
    if (event.latencyMs !== undefined && Number.isFinite(event.latencyMs)) {
      c.rerankLatency[bucketOf(event.latencyMs)]!++;
      c.rerankLatencySumMs += event.latencyMs;
    }
  }

  /** Where a search of the profile found its query vector. */
  cache(profile: string, lookup: CacheLookup): void {
    if (lookup === 'off') return;
    const c = this.counts(profile);
    if (lookup === 'hit') c.cacheHits++;
    else if (lookup === 'shared_hit') c.cacheSharedHits++;
    else c.cacheMisses++;
  }

  /**
   * Ends the current window now and writes it (writes are serialized). The router calls this
   * when the migration changes, so no window mixes traffic of two steps.
   */
  flush(): Promise<void> {
    const window: Window = { counts: this.current, start: this.windowStart, migration: this.migration };
    this.current = new Map();
    // Starts are unique per instance (the table's key), even for two flushes in one millisecond.
    this.windowStart = Math.max(Date.now(), window.start + 1);
    if (window.counts.size > 0) this.unwritten.push(window);
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  /** Writes the windows not written yet, oldest first; a failed one stays queued for the next flush. */
  private async writeAll(): Promise<void> {
    while (this.unwritten.length > 0) {
      const w = this.unwritten[0]!;
      try {
        await upsertCounts(this.db, w, this.windowMs, this.instance);
      } catch (error) {
        // Kept whole, under its own start and migration; recorded_at will say when it arrived,
        // so the measurement after the outage still counts it. At most 360 windows are kept.
        if (this.unwritten.length > 360) this.unwritten.shift();
        this.options.onError?.(error);
        return;
      }
      this.unwritten.shift();
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

export interface MigrationTag {
  id: string;
  version: number;
}

interface Window {
  counts: Map<string, Counts>;
  start: number;
  migration: MigrationTag;
}

/** SQL: two jsonb maps of counts, summed key by key. */
function sumCounts(a: string, b: string): string {
  return `(
           SELECT coalesce(jsonb_object_agg(key, n), '{}'::jsonb)
           FROM (SELECT key, sum(value::bigint) AS n
                 FROM (SELECT * FROM jsonb_each_text(${a}) UNION ALL SELECT * FROM jsonb_each_text(${b})) AS both_maps
                 GROUP BY key) AS summed)`;
}

async function upsertCounts(conn: Queryable, w: Window, windowMs: number, instance: string): Promise<void> {
  for (const [profile, c] of w.counts) {
    await conn.query(
      `INSERT INTO ${SERVING_METRICS_TABLE} AS m (profile, window_start, instance, window_ms, migration_id,
         migration_version, requests, errors, fallbacks, breaker_opens, latency_counts, latency_sum_ms,
         shadow_compared, shadow_errors, shadow_overlap_sum, shadow_rbo_sum, fallback_reasons, shadow_dropped,
         cache_hits, cache_shared_hits, cache_misses, top1_score_sum, top1_count, top5_cosine_sum, top5_cosine_count,
         query_tokens, rerank_on, rerank_off, rerank_fallbacks, rerank_changed, rerank_latency_counts,
         rerank_latency_sum_ms)
       VALUES ($1, $2, $3, $4, $15, $16, $5, $6, $7, $8, $9::bigint[], $10, $11, $12, $13, $14, $17::jsonb, $18::jsonb,
               $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31::bigint[], $32)
       ON CONFLICT (profile, window_start, instance) DO UPDATE SET
         recorded_at = clock_timestamp(),
         requests = m.requests + EXCLUDED.requests,
         errors = m.errors + EXCLUDED.errors,
         fallbacks = m.fallbacks + EXCLUDED.fallbacks,
         fallback_reasons = ${sumCounts('m.fallback_reasons', 'EXCLUDED.fallback_reasons')},
         shadow_dropped = ${sumCounts('m.shadow_dropped', 'EXCLUDED.shadow_dropped')},
         breaker_opens = m.breaker_opens + EXCLUDED.breaker_opens,
         latency_counts = ARRAY(SELECT a + b FROM unnest(m.latency_counts, EXCLUDED.latency_counts) AS u(a, b)),
         latency_sum_ms = m.latency_sum_ms + EXCLUDED.latency_sum_ms,
         shadow_compared = m.shadow_compared + EXCLUDED.shadow_compared,
         shadow_errors = m.shadow_errors + EXCLUDED.shadow_errors,
         shadow_overlap_sum = m.shadow_overlap_sum + EXCLUDED.shadow_overlap_sum,
         shadow_rbo_sum = m.shadow_rbo_sum + EXCLUDED.shadow_rbo_sum,
         cache_hits = m.cache_hits + EXCLUDED.cache_hits,
         cache_shared_hits = m.cache_shared_hits + EXCLUDED.cache_shared_hits,
         cache_misses = m.cache_misses + EXCLUDED.cache_misses,
         top1_score_sum = m.top1_score_sum + EXCLUDED.top1_score_sum,
         top1_count = m.top1_count + EXCLUDED.top1_count,
         top5_cosine_sum = m.top5_cosine_sum + EXCLUDED.top5_cosine_sum,
         top5_cosine_count = m.top5_cosine_count + EXCLUDED.top5_cosine_count,
         query_tokens = m.query_tokens + EXCLUDED.query_tokens,
         rerank_on = m.rerank_on + EXCLUDED.rerank_on,
         rerank_off = m.rerank_off + EXCLUDED.rerank_off,
         rerank_fallbacks = m.rerank_fallbacks + EXCLUDED.rerank_fallbacks,
         rerank_changed = m.rerank_changed + EXCLUDED.rerank_changed,
         rerank_latency_counts = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0)
           FROM unnest(m.rerank_latency_counts, EXCLUDED.rerank_latency_counts) AS u(a, b)),
         rerank_latency_sum_ms = m.rerank_latency_sum_ms + EXCLUDED.rerank_latency_sum_ms`,
      [
        profile,
        new Date(w.start),
        instance,
        windowMs,
        c.requests,
        c.errors,
        c.fallbacks,
        c.breakerOpens,
        c.latency,
        c.latencySumMs,
        c.shadowCompared,
        c.shadowErrors,
        c.shadowOverlapSum,
        c.shadowRboSum,
        w.migration.id,
        w.migration.version,
        JSON.stringify(c.fallbackReasons),
        JSON.stringify(c.shadowDropped),
        c.cacheHits,
        c.cacheSharedHits,
        c.cacheMisses,
        c.top1ScoreSum,
        c.top1Count,
        c.top5CosineSum,
        c.top5CosineCount,
        c.queryTokens,
        c.rerankOn,
        c.rerankOff,
        c.rerankFallbacks,
        c.rerankChanged,
        c.rerankLatency,
        c.rerankLatencySumMs,
      ],
    );
  }
}

/** A profile's serving figures over a time range, summed over every instance. */
export interface ServingSummary {
  profile: string;
  windows: number;
  instances: number;
  requests: number;
  errors: number;
  fallbacks: number;
  /** Fallbacks by reason: `timeout`, `breaker_open`, `error` or `error:<code>`. */
  fallbackReasons: Record<string, number>;
  breakerOpens: number;
  /** errors / requests; null without requests. */
  errorRate: number | null;
  fallbackRate: number | null;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null; mean: number | null };
  /** `dropped`: sampled reads dropped under load, by reason (`queue_full`, `too_old`), and their total. */
  shadow: {
    compared: number;
    errors: number;
    overlap: number | null;
    rbo: number | null;
    dropped: number;
    droppedReasons: Record<string, number>;
  };
  /** Query-vector lookups: hits in a process, hits in the shared table, misses; hitRate counts both hits. */
  cache: { hits: number; sharedHits: number; misses: number; hitRate: number | null };
  /**
   * Means over the answered searches: the top-1 score (cosine similarity for cosine profiles),
   * and over the sampled ones (`sampled`) the mean pairwise cosine of the top 5; null without any.
   */
  quality: { top1Score: number | null; top5PairwiseCosine: number | null; sampled: number };
  /** Provider tokens of the profile's query embeddings (cache misses; estimated where the provider reports none). */
  queryTokens: number;
  /**
   * The profile's rerank stage: searches per arm (`on` reranked, `off` the other arm, `fallbacks`
   * the reranker failed and the unreranked order was served), `acceptance` the share of reranked
   * searches whose first result the reranker changed, and the stage's latency (on and fallback).
   */
  rerank: {
    on: number;
    off: number;
    fallbacks: number;
    changed: number;
    acceptance: number | null;
    fallbackRate: number | null;
    latencyMs: { p50: number | null; p95: number | null; mean: number | null };
  };
}

export interface ServingRange {
  /** Windows written (database clock) after this time… */
  from: Date;
  /** …and up to this time (default: any time). */
  to?: Date;
  /** Only traffic served under this migration state. */
  migration?: MigrationTag;
}

/** The profiles with serving windows written after `from`, by name. */
export async function servingProfiles(conn: Queryable, from: Date): Promise<string[]> {
  const { rows } = await conn.query<{ profile: string }>(
    `SELECT DISTINCT profile FROM ${SERVING_METRICS_TABLE} WHERE recorded_at > $1 ORDER BY profile`,
    [from],
  );
  return rows.map((r) => r.profile);
}

/** Sums a profile's windows written in (from, to], optionally of one migration state, over every instance. */
export async function readServingMetrics(
  conn: Queryable,
  profile: string,
  range: ServingRange,
): Promise<ServingSummary> {
  const { rows } = await conn.query<{
    instance: string;
    requests: string;
    errors: string;
    fallbacks: string;
    fallback_reasons: Record<string, string | number> | string | null;
    breaker_opens: string;
    latency_counts: Array<string | number>;
    latency_sum_ms: number;
    shadow_compared: string;
    shadow_errors: string;
    shadow_overlap_sum: number;
    shadow_rbo_sum: number;
    shadow_dropped: Record<string, string | number> | string | null;
    cache_hits: string;
    cache_shared_hits: string;
    cache_misses: string;
    top1_score_sum: number;
    top1_count: string;
    top5_cosine_sum: number;
    top5_cosine_count: string;
    query_tokens: string;
    rerank_on: string;
    rerank_off: string;
    rerank_fallbacks: string;
    rerank_changed: string;
    rerank_latency_counts: Array<string | number>;
    rerank_latency_sum_ms: number;
  }>(
    `SELECT instance, requests, errors, fallbacks, fallback_reasons, breaker_opens, latency_counts, latency_sum_ms,
            shadow_compared, shadow_errors, shadow_overlap_sum, shadow_rbo_sum, shadow_dropped,
            cache_hits, cache_shared_hits, cache_misses, top1_score_sum, top1_count, top5_cosine_sum, top5_cosine_count,
            query_tokens, rerank_on, rerank_off, rerank_fallbacks, rerank_changed, rerank_latency_counts,
            rerank_latency_sum_ms
     FROM ${SERVING_METRICS_TABLE}
     WHERE profile = $1 AND recorded_at > $2 AND ($3::timestamptz IS NULL OR recorded_at <= $3)
       AND ($4::text IS NULL OR (migration_id = $4 AND migration_version = $5))`,
    [profile, range.from, range.to ?? null, range.migration?.id ?? null, range.migration?.version ?? 0],
  );
  const total = emptyCounts();
  for (const r of rows) {
    mergeInto(total, {
      requests: Number(r.requests),
      errors: Number(r.errors),
      fallbacks: Number(r.fallbacks),
      fallbackReasons: countsOf(r.fallback_reasons),
      breakerOpens: Number(r.breaker_opens),
      latency: r.latency_counts.map(Number),
      latencySumMs: Number(r.latency_sum_ms),
      shadowCompared: Number(r.shadow_compared),
      shadowErrors: Number(r.shadow_errors),
      shadowOverlapSum: Number(r.shadow_overlap_sum),
      shadowRboSum: Number(r.shadow_rbo_sum),
      cacheHits: Number(r.cache_hits),
      cacheSharedHits: Number(r.cache_shared_hits),
      cacheMisses: Number(r.cache_misses),
      top1ScoreSum: Number(r.top1_score_sum),
      top1Count: Number(r.top1_count),
      top5CosineSum: Number(r.top5_cosine_sum),
      top5CosineCount: Number(r.top5_cosine_count),
      queryTokens: Number(r.query_tokens),
      shadowDropped: countsOf(r.shadow_dropped),
      rerankOn: Number(r.rerank_on),
      rerankOff: Number(r.rerank_off),
      rerankFallbacks: Number(r.rerank_fallbacks),
      rerankChanged: Number(r.rerank_changed),
      rerankLatency: r.rerank_latency_counts.map(Number),
      rerankLatencySumMs: Number(r.rerank_latency_sum_ms),
    });
  }
  const lookups = total.cacheHits + total.cacheSharedHits + total.cacheMisses;
  const answered = total.requests - total.errors;
  return {
    profile,
    windows: rows.length,
    instances: new Set(rows.map((r) => r.instance)).size,
    requests: total.requests,
    errors: total.errors,
    fallbacks: total.fallbacks,
    fallbackReasons: total.fallbackReasons,
    breakerOpens: total.breakerOpens,
    errorRate: total.requests ? total.errors / total.requests : null,
    fallbackRate: total.requests ? total.fallbacks / total.requests : null,
    latencyMs: {
      p50: quantile(total.latency, 0.5),
      p95: quantile(total.latency, 0.95),
      p99: quantile(total.latency, 0.99),
      mean: answered > 0 ? total.latencySumMs / answered : null,
    },
    shadow: {
      compared: total.shadowCompared,
      errors: total.shadowErrors,
      overlap: total.shadowCompared ? total.shadowOverlapSum / total.shadowCompared : null,
      rbo: total.shadowCompared ? total.shadowRboSum / total.shadowCompared : null,
      dropped: Object.values(total.shadowDropped).reduce((a, n) => a + n, 0),
      droppedReasons: total.shadowDropped,
    },
    cache: {
      hits: total.cacheHits,
      sharedHits: total.cacheSharedHits,
      misses: total.cacheMisses,
      hitRate: lookups ? (total.cacheHits + total.cacheSharedHits) / lookups : null,
    },
    quality: {
      top1Score: total.top1Count ? total.top1ScoreSum / total.top1Count : null,
      top5PairwiseCosine: total.top5CosineCount ? total.top5CosineSum / total.top5CosineCount : null,
      sampled: total.top5CosineCount,
    },
    queryTokens: total.queryTokens,
    rerank: {
      on: total.rerankOn,
      off: total.rerankOff,
      fallbacks: total.rerankFallbacks,
      changed: total.rerankChanged,
      acceptance: total.rerankOn ? total.rerankChanged / total.rerankOn : null,
      fallbackRate:
        total.rerankOn + total.rerankFallbacks
          ? total.rerankFallbacks / (total.rerankOn + total.rerankFallbacks)
          : null,
      latencyMs: {
        p50: quantile(total.rerankLatency, 0.5),
        p95: quantile(total.rerankLatency, 0.95),
        mean:
          total.rerankOn + total.rerankFallbacks
            ? total.rerankLatencySumMs / (total.rerankOn + total.rerankFallbacks)
            : null,
      },
    },
  };
}

/** A jsonb map of counts as the driver returns it (an object, or text). */
function countsOf(raw: Record<string, string | number> | string | null): Record<string, number> {
  const value = typeof raw === 'string' ? (JSON.parse(raw) as Record<string, string | number>) : raw;
  return Object.fromEntries(Object.entries(value ?? {}).map(([k, n]) => [k, Number(n)]));
}
