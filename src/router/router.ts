import type { Registry } from 'prom-client';
import CircuitBreaker from 'opossum';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Manifest } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { createEmbedder, type CreateEmbedderOptions } from '../embedders/create.js';
import type { Embedder } from '../embedders/embedder.js';
import { ConfigError } from '../errors.js';
import { enqueue } from '../source/capture.js';
import { upsertDocuments, type DocumentInput } from '../source/managed.js';
import { staleByIds, staleNotFailed } from '../backfill/candidates.js';
import { deleteOrphans, writeIfCurrent } from '../store/guarded-write.js';
import type { Source } from '../source/source.js';
import { searchIndexed, type SearchHit, type SearchOptions } from '../store/search.js';
import type { MigrationState } from '../migration/state.js';
import { inCanary } from './bucket.js';
import { asInvalidRequest, isCallerError, validateSearchRequest } from './request.js';
import {
  CandidateTimeoutError,
  DEFAULT_SEARCH_DEADLINE_MS,
  OverloadedError,
  SearchSlots,
  SearchTimeoutError,
  within,
} from './load.js';
import { compareResults, type Comparison } from './compare.js';
import { MigrationWatcher } from './watcher.js';
import { ServingMetricsRecorder, type RecorderOptions } from '../telemetry/serving-metrics.js';
import { fanOut, PrometheusServingMetrics, type ServingObserver } from '../telemetry/prometheus.js';
import { checkRetentionMs, startServingRetention } from '../telemetry/serving-retention.js';

export interface RouterOptions {
  /** The profile that serves when there is no migration (the environment's active profile). */
  defaultProfile: string;
  /** Shadow reads of this instance; `enabled: false` turns them off whatever the migration's sample. */
  shadow?: { enabled?: boolean; timeoutMs?: number; maxConcurrent?: number };
  /**
   * The candidate's circuit breaker (defaults: 2 s timeout, opens at 50% failures over a 10 s
   * window of at least 5 searches, or at 5 failures in a row; tries again after 5 s). The
   * manifest's `router.breaker` sets these for every router; options here override it.
   */
  breaker?: {
    timeoutMs?: number;
    errorThresholdPercentage?: number;
    resetTimeoutMs?: number;
    volumeThreshold?: number;
    /** Failures in a row that open the circuit, however sparse the traffic (default 5). */
    consecutiveFailures?: number;
    rollingWindowMs?: number;
  };
  /** Longer queries are refused with InvalidRequestError before they are embedded (default 100,000). */
  maxQueryChars?: number;
  /**
   * Store queries this router runs at once (default 8; keep it under the pool's size) and how
   * many more may wait (default 512) before a search is refused with OverloadedError.
   */
  maxConcurrentSearches?: number;
  maxQueuedSearches?: number;
  /** A search (control or candidate, fallback included) fails with SearchTimeoutError after this (default 5 s). */
  searchDeadlineMs?: number;
  /** Queue documents the control returns but the candidate lacks, at high priority (default on). */
  hotDocuments?: boolean;
  pollMs?: number;
  embedderOptions?: CreateEmbedderOptions;
  /** Called with each shadow comparison (after the response was returned). */
  onShadow?: (event: ShadowEvent) => void;
  /** Where errors of background work go (shadow reads, hot-document queueing); never to the caller. */
  onBackgroundError?: (error: unknown) => void;
  random?: () => number;
  /**
   * Serving metrics written to the database per profile and window (requests, errors,
   * fallbacks, latency histogram, breaker trips, shadow agreement), which the controller's
   * online gates read. On by default (10 s windows); `false` turns recording off.
   * `retentionMs` (default 30 days, 0 keeps them for ever): windows older than this are pruned
   * at start and hourly, except those of a migration a controller may still measure.
   */
  metrics?: (Omit<RecorderOptions, 'onError'> & { retentionMs?: number }) | false;
  /**
   * A prom-client registry to count this process's searches in, for the application's own
   * scrape endpoint (reembed_search_requests_total, …_errors_total, …_fallbacks_total,
   * reembed_search_duration_seconds, reembed_circuit_breaker_opens_total, shadow comparisons).
   */
  registry?: Registry;
}

export interface SearchRequest {
  k?: number;
  /** The user, session or tenant: decides the canary bucket. Missing means the control. */
  subject?: string | null;
  filter?: SearchOptions['filter'];
}

export interface SearchResponse {
  hits: SearchHit[];
  profile: string;
  /** The candidate was chosen but failed or its circuit was open: the control answered. */
  fallback: boolean;
  /**
   * Why the control answered instead of the candidate: `timeout` (the breaker's timer),
   * `breaker_open` (the candidate's circuit is open), `error` (with the typed code when there is
   * one), or `rejected_input` (the candidate's embedder refused this query, e.g. too long for
   * it: the caller's input, not counted against the candidate). Absent without a fallback.
   */
  fallbackReason?: FallbackReason;
  migration: { id: string; phase: string; percent: number } | null;
  /**
   * Where the time went: `init` (loading what the serving profile's embedder needs, outside the
   * breaker's timer), `fallback` (spent on the candidate before the control answered), `queued`
   * (waiting for a store-query slot behind this router's other searches), the served profile's
   * `embed` and `search`, and the `total` that includes them all.
   */
  latencyMs: { init: number; fallback: number; queued: number; embed: number; search: number; total: number };
}

export interface FallbackReason {
  kind: 'timeout' | 'breaker_open' | 'error' | 'rejected_input';
  code?: string;
}

export interface ShadowEvent {
  migrationId: string;
  served: string;
  shadow: string;
  comparison?: Comparison;
  error?: string;
  latencyMs: number;
}

export interface RouterStats {
  searches: Record<string, number>;
  fallbacks: number;
  breakerOpens: number;
  shadowRuns: number;
  shadowErrors: number;
  shadowDropped: number;
  hotDocumentsQueued: number;
  /** Searches refused because the queue was full (OverloadedError). */
  overloaded: number;
  /** Searches that failed their deadline (SearchTimeoutError). */
  deadlineExceeded: number;
}

/**
 * The read path of a migration: which profile serves a search (phase, percentage, the
 * subject's bucket), the candidate behind a circuit breaker with the control as fallback,
 * shadow reads that never touch the response, and hot documents queued for the backfill.
 * Every instance follows the migration row in the database, so a rollback reaches all of them.
 */
export class Router {
  private readonly watcher: MigrationWatcher;
  private readonly embedders = new Map<string, Embedder>();
  private readonly breakers = new Map<string, CircuitBreaker<[Profile, string, SearchRequest], Timed>>();
  /** The router's settings: the manifest's `router:` section under the constructor's options. */
  private readonly settings: RouterOptions;
  private readonly shadowLimit: LimitFunction;
  /** Bounded concurrency and queue in front of the pool for every store query of this router. */
  private readonly slots: SearchSlots;
  private readonly random: () => number;
  private hotInFlight = false;
  private stopRetention: (() => Promise<void>) | undefined;
  /** Null when the options turned recording off. */
  readonly metrics: ServingMetricsRecorder | null;
  /** The database recorder and, with a registry, Prometheus: what every search reports to. */
  private readonly observer: ServingObserver;
  readonly stats: RouterStats = {
    searches: {},
    fallbacks: 0,
    breakerOpens: 0,
    shadowRuns: 0,
    shadowErrors: 0,
    shadowDropped: 0,
    hotDocumentsQueued: 0,
    overloaded: 0,
    deadlineExceeded: 0,
  };

  constructor(
    private readonly db: Database,
    private readonly manifest: Manifest,
    private readonly source: Source,
    private readonly options: RouterOptions,
  ) {
    if (!manifest.profiles.has(options.defaultProfile))
      throw new ConfigError(`unknown profile ${options.defaultProfile}`);
    const fromManifest = manifest.router ?? {};
    this.settings = {
      ...options,
      maxQueryChars: options.maxQueryChars ?? fromManifest.maxQueryChars,
      maxConcurrentSearches: options.maxConcurrentSearches ?? fromManifest.maxConcurrentSearches,
      maxQueuedSearches: options.maxQueuedSearches ?? fromManifest.maxQueuedSearches,
      searchDeadlineMs: options.searchDeadlineMs ?? fromManifest.searchDeadlineMs,
      breaker: { ...fromManifest.breaker, ...options.breaker },
      shadow: { ...fromManifest.shadow, ...options.shadow },
    };
    options = this.settings;
    this.watcher = new MigrationWatcher(db, `${source.schemaName}.${source.tableName}`, {
      pollMs: options.pollMs,
      onError: options.onBackgroundError,
      // A new step starts a new metrics window: gates of the step never count the last one's traffic.
      onChange: (m) => this.metrics?.setMigration(m ? { id: m.id, version: m.version } : null),
    });
    this.shadowLimit = pLimit(options.shadow?.maxConcurrent ?? 4);
    this.slots = new SearchSlots(options.maxConcurrentSearches, options.maxQueuedSearches);
    this.random = options.random ?? Math.random;
    if (options.metrics) checkRetentionMs(options.metrics.retentionMs ?? 0);
    this.metrics =
      options.metrics === false
        ? null
        : new ServingMetricsRecorder(db, { ...options.metrics, onError: options.onBackgroundError });
    this.observer = fanOut([this.metrics, options.registry ? new PrometheusServingMetrics(options.registry) : null]);
  }

  async start(): Promise<this> {
    await this.watcher.start();
    this.metrics?.start();
    if (this.options.metrics !== false && !this.stopRetention) {
      this.stopRetention = startServingRetention(this.db, {
        retentionMs: this.options.metrics?.retentionMs,
        onError: this.options.onBackgroundError,
      });
    }
    return this;
  }

  /** The migration state this instance serves by (the last one it could read). */
  migration(): MigrationState | null {
    return this.watcher.current();
  }

  /** Re-reads the migration now instead of waiting for the next poll. */
  refresh(): Promise<void> {
    return this.watcher.refresh();
  }

  private profile(name: string): Profile {
    const p = this.manifest.profiles.get(name);
    if (!p) throw new ConfigError(`the migration names profile ${name}, which the manifest does not define`);
    return p;
  }

  private embedder(profile: Profile): Embedder {
    let e = this.embedders.get(profile.name);
    if (!e) this.embedders.set(profile.name, (e = createEmbedder(profile, this.options.embedderOptions)));
    return e;
  }

  /** Which profile serves this subject now, and which is the other one. */
  route(subject: string | null | undefined): { serving: string; other: string | null; candidateChosen: boolean } {
    const m = this.watcher.current();
    if (!m || m.phase === 'rolled_back' || m.phase === 'aborted') {
      return { serving: m?.control ?? this.options.defaultProfile, other: null, candidateChosen: false };
    }
    const candidateServes =
      m.phase === 'cutover' ||
      m.phase === 'finalized' ||
      m.phase === 'cleaned' ||
      (m.phase === 'canary' && inCanary(m.id, subject, m.percent));
    // Once the control's store stops following the source (finalize), it is neither a shadow nor a fallback.
    const controlAlive = m.phase !== 'finalized' && m.phase !== 'cleaned';
    if (candidateServes) return { serving: m.candidate, other: controlAlive ? m.control : null, candidateChosen: true };
    return { serving: m.control, other: m.candidate, candidateChosen: false };
  }

  /**
   * Embeds the query and searches the profile's store. With `budgetMs` (the candidate, under its
   * breaker) its own work is timed: the embed, then the store query from the moment it has a
   * slot, so waiting behind other searches (saturation of this process) is never its failure.
   */
  private async searchWith(profile: Profile, query: string, request: SearchRequest, budgetMs?: number): Promise<Timed> {
    const t0 = performance.now();
    const embedding = this.embedder(profile).embed([query], 'query');
    const { vectors } =
      budgetMs === undefined
        ? await embedding
        : await within(embedding, budgetMs, () => new CandidateTimeoutError(profile.name, budgetMs, 'embed'));
    const t1 = performance.now();
    let queued = 0;
    const hits = await this.slots.run(() => {
      queued = performance.now() - t1;
      const searching = searchIndexed(this.db, this.source, profile, vectors[0]!, request.k ?? 10, {
        filter: request.filter,
      });
      return budgetMs === undefined
        ? searching
        : within(searching, budgetMs - (t1 - t0), () => new CandidateTimeoutError(profile.name, budgetMs, 'search'));
    });
    return { hits, embed: t1 - t0, search: performance.now() - t1 - queued, queued };
  }

  private breaker(profile: Profile): CircuitBreaker<[Profile, string, SearchRequest], Timed> {
    let b = this.breakers.get(profile.name);
    if (!b) {
      const o = this.settings.breaker ?? {};
      const timeoutMs = o.timeoutMs ?? 2000;
      b = new CircuitBreaker((p: Profile, q: string, r: SearchRequest) => this.searchWith(p, q, r, timeoutMs), {
        // searchWith times the candidate's own work; opossum's timer would also count its wait for a slot.
        timeout: false,
        errorThresholdPercentage: o.errorThresholdPercentage ?? 50,
        resetTimeout: o.resetTimeoutMs ?? 5000,
        volumeThreshold: o.volumeThreshold ?? 5,
        rollingCountTimeout: o.rollingWindowMs ?? 10_000,
        // The caller's mistakes (an input the embedder refuses) are not the candidate's failures.
        // Neither is a full queue of this process (shed before the candidate did any work).
        errorFilter: (error: unknown) => isCallerError(error) || error instanceof OverloadedError,
      });
      // A dead candidate under sparse traffic never fills the window's volume threshold, and
      // every search routed to it would wait out the timeout: failures in a row open it too.
      const consecutive = o.consecutiveFailures ?? 5;
      let failuresInARow = 0;
      const breaker = b;
      b.on('success', () => (failuresInARow = 0));
      b.on('failure', () => {
        if (++failuresInARow >= consecutive && breaker.closed) breaker.open();
      });
      b.on('open', () => {
        failuresInARow = 0;
        this.stats.breakerOpens++;
        this.observer.breakerOpened(profile.name);
      });
      this.breakers.set(profile.name, b);
    }
    return b;
  }

  /** State of the candidate's circuit: closed (healthy), open (all traffic to the control) or halfOpen. */
  breakerState(profile: string): 'closed' | 'open' | 'halfOpen' {
    const b = this.breakers.get(profile);
    return !b || b.closed ? 'closed' : b.opened ? 'open' : 'halfOpen';
  }

  /**
   * Serves one search. An invalid request (empty query, k out of range, unknown filter column)
   * fails with InvalidRequestError before routing and counts against no profile.
   */
  async search(query: string, options: SearchRequest = {}): Promise<SearchResponse> {
    const deadline = this.settings.searchDeadlineMs ?? DEFAULT_SEARCH_DEADLINE_MS;
    return within(this.serve(query, options), deadline, () => {
      this.stats.deadlineExceeded++;
      return new SearchTimeoutError(deadline);
    });
  }

  private async serve(query: string, options: SearchRequest): Promise<SearchResponse> {
    const started = performance.now();
    const valid = validateSearchRequest(this.source, query, options, this.settings.maxQueryChars);
    const request: SearchRequest = { k: valid.k, subject: valid.subject, filter: valid.filter };
    const m = this.watcher.current();
    const route = this.route(request.subject);
    let served = route.serving;
    let fallback = false;
    let fallbackReason: FallbackReason | undefined;
    let timed: Timed;
    // What the embedder loads on first use (a tokenizer for a long query) is loaded here, outside
    // the breaker's timer: a cold process is not a failing candidate.
    const t0 = performance.now();
    await this.embedder(this.profile(served)).warmUp?.([query], 'query');
    const init = performance.now() - t0;
    let fallbackMs = 0;
    if (route.candidateChosen && route.other) {
      const tried = performance.now();
      try {
        timed = await this.breaker(this.profile(route.serving)).fire(this.profile(route.serving), query, request);
        this.observer.request(served, { ok: true, latencyMs: timed.embed + timed.search });
      } catch (error) {
        // An error, a timeout or an open circuit: the control answers instead. An input the
        // candidate refuses is the caller's, so it is not counted as the candidate's error.
        // The queue was full: shed, as the control would be, rather than counted against the candidate.
        if (error instanceof OverloadedError) throw this.overloaded(error);
        fallbackReason = fallbackReasonOf(error);
        if (fallbackReason.kind !== 'rejected_input') this.observer.request(served, { ok: false, fallback: true });
        fallback = true;
        this.stats.fallbacks++;
        served = route.other;
        fallbackMs = performance.now() - tried;
        timed = await this.measured(served, query, request);
      }
    } else {
      timed = await this.measured(served, query, request);
    }
    this.stats.searches[served] = (this.stats.searches[served] ?? 0) + 1;
    if (m && route.other && !fallback) {
      this.maybeShadow(m, served, route.other, query, request, timed.hits);
      if (served === m.control) this.queueHotDocuments(m, timed.hits);
    }
    return {
      hits: timed.hits,
      profile: served,
      fallback,
      ...(fallbackReason ? { fallbackReason } : {}),
      migration: m ? { id: m.id, phase: m.phase, percent: m.percent } : null,
      latencyMs: {
        init,
        fallback: fallbackMs,
        queued: timed.queued,
        embed: timed.embed,
        search: timed.search,
        total: performance.now() - started,
      },
    };
  }

  /**
   * A search without a fallback, counted in the serving metrics (and rethrown when it fails).
   * An input the embedder refuses is the caller's: InvalidRequestError, counted nowhere.
   */
  private async measured(profile: string, query: string, request: SearchRequest): Promise<Timed> {
    try {
      const timed = await this.searchWith(this.profile(profile), query, request);
      this.observer.request(profile, { ok: true, latencyMs: timed.embed + timed.search });
      return timed;
    } catch (error) {
      if (isCallerError(error)) throw asInvalidRequest(error);
      if (error instanceof OverloadedError) throw this.overloaded(error);
      this.observer.request(profile, { ok: false, fallback: false });
      throw error;
    }
  }

  private overloaded(error: OverloadedError): OverloadedError {
    this.stats.overloaded++;
    return error;
  }

  /** Fire and forget: never awaited by search, bounded in concurrency and time, errors swallowed. */
  private maybeShadow(
    m: MigrationState,
    served: string,
    other: string,
    query: string,
    request: SearchRequest,
    hits: SearchHit[],
  ): void {
    if (this.settings.shadow?.enabled === false) return;
    if (!(m.shadowSample > 0) || !['shadow', 'canary', 'cutover'].includes(m.phase) || this.random() >= m.shadowSample)
      return;
    if (this.shadowLimit.pendingCount > 0) {
      // The shadow budget is full: drop this sample rather than queue work behind serving.
      this.stats.shadowDropped++;
      return;
    }
    const timeoutMs = this.settings.shadow?.timeoutMs ?? 1000;
    void this.shadowLimit(async () => {
      const t0 = performance.now();
      const event: ShadowEvent = { migrationId: m.id, served, shadow: other, latencyMs: 0 };
      try {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`shadow search timed out after ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          const shadow = await Promise.race([this.searchWith(this.profile(other), query, request), timeout]);
          event.comparison =
            served === m.control
              ? compareResults(hits, shadow.hits, request.k ?? 10)
              : compareResults(shadow.hits, hits, request.k ?? 10);
        } finally {
          clearTimeout(timer);
        }
        this.stats.shadowRuns++;
        this.observer.shadow(m.candidate, event.comparison);
      } catch (error) {
        this.stats.shadowErrors++;
        this.observer.shadow(m.candidate, null);
        event.error = error instanceof Error ? error.message : String(error);
      }
      event.latencyMs = performance.now() - t0;
      try {
        this.options.onShadow?.(event);
      } catch (error) {
        this.options.onBackgroundError?.(error);
      }
    }).catch((error: unknown) => this.options.onBackgroundError?.(error));
  }

  /** While the candidate is incomplete, what the control returns is what users read: embed it first. */
  private queueHotDocuments(m: MigrationState, hits: SearchHit[]): void {
    if (
      this.options.hotDocuments === false ||
      hits.length === 0 ||
      !['backfilling', 'shadow', 'canary'].includes(m.phase)
    )
      return;
    // At most one check in flight: under load, skipping some is fine; piling them up is not.
    if (this.hotInFlight) return;
    const candidate = this.manifest.profiles.get(m.candidate);
    if (!candidate) return;
    this.hotInFlight = true;
    void (async () => {
      const ids = await staleNotFailed(
        this.db,
        this.source,
        candidate,
        hits.map((h) => h.id),
      );
      if (ids.length) {
        await enqueue(this.db, candidate.name, ids, 10);
        this.stats.hotDocumentsQueued += ids.length;
      }
    })()
      .catch((error: unknown) => this.options.onBackgroundError?.(error))
      .finally(() => (this.hotInFlight = false));
  }

  /**
   * Managed mode: writes go to the source, and capture fans them out to every capturing
   * profile's store. With `sync`, the serving profile embeds them before returning, so a new
   * document is searchable on return (the others catch up through the queue).
   */
  async upsert(
    docs: DocumentInput[],
    options: { sync?: boolean } = {},
  ): Promise<{ written: number; embedded: number }> {
    this.requireManaged('upsert');
    const written = await upsertDocuments(this.db, docs);
    let embedded = 0;
    if (options.sync && docs.length) {
      const profile = this.profile(this.servingForAll());
      const { stale } = await staleByIds(
        this.db,
        this.source,
        profile,
        docs.map((d) => d.id),
      );
      if (stale.length) {
        const { vectors } = await this.embedder(profile).embed(
          stale.map((c) => c.text),
          'document',
        );
        embedded = (
          await writeIfCurrent(
            this.db,
            this.source,
            profile,
            stale.map((c, i) => ({ docId: c.docId, vector: vectors[i]!, contentHash: c.contentHash })),
          )
        ).length;
      }
    }
    return { written, embedded };
  }

  /** Managed mode: deletes from the source; capture removes the documents from every store. */
  async delete(ids: string[]): Promise<number> {
    this.requireManaged('delete');
    const { rowCount } = await this.db.query(`DELETE FROM ${this.source.table} WHERE id = ANY($1::text[])`, [ids]);
    // Stores of profiles that do not capture (none yet) still must not keep the documents.
    for (const name of new Set([
      this.options.defaultProfile,
      this.watcher.current()?.control,
      this.watcher.current()?.candidate,
    ])) {
      const p = name ? this.manifest.profiles.get(name) : undefined;
      if (p) await deleteOrphans(this.db, this.source, p, ids).catch(() => 0);
    }
    return rowCount;
  }

  /** The profile most searches are served by now (the candidate from cutover on). */
  private servingForAll(): string {
    const m = this.watcher.current();
    if (!m) return this.options.defaultProfile;
    return ['cutover', 'finalized', 'cleaned'].includes(m.phase) ? m.candidate : m.control;
  }

  private requireManaged(what: string): void {
    if (this.source.kind !== 'managed') {
      throw new ConfigError(
        `${what} writes to reembed's managed documents; in attach mode write to your table, and capture does the rest`,
      );
    }
  }

  async close(): Promise<void> {
    this.watcher.stop();
    for (const b of this.breakers.values()) b.shutdown();
    await this.shadowLimit(async () => {});
    await this.metrics?.close();
    await this.stopRetention?.();
  }
}

/** opossum rejects with code ETIMEDOUT when its timer fires and EOPENBREAKER while open. */
function fallbackReasonOf(error: unknown): FallbackReason {
  if (isCallerError(error)) return { kind: 'rejected_input', code: (error as { code?: string }).code };
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ETIMEDOUT' || error instanceof CandidateTimeoutError) return { kind: 'timeout' };
  if (code === 'EOPENBREAKER') return { kind: 'breaker_open' };
  return typeof code === 'string' ? { kind: 'error', code } : { kind: 'error' };
}

interface Timed {
  hits: SearchHit[];
  embed: number;
  search: number;
  /** Waiting for a store-query slot behind other searches of this router. */
  queued: number;
}
