import type { Manifest } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { createEmbedder } from '../embedders/create.js';
import type { Embedder } from '../embedders/embedder.js';
import { ConfigError } from '../errors.js';
import type { DocumentInput } from '../source/managed.js';
import type { Source } from '../source/source.js';
import { searchIndexed } from '../store/search.js';
import type { MigrationState } from '../migration/state.js';
import { ServingMetricsRecorder } from '../telemetry/serving-metrics.js';
import { fanOut, PrometheusServingMetrics, type ServingObserver } from '../telemetry/prometheus.js';
import { checkRetentionMs, startServingRetention } from '../telemetry/serving-retention.js';
import { CandidateBreakers, fallbackReasonOf } from './breakers.js';
import { HotDocuments } from './hot-documents.js';
import { QueryCache } from './query-cache.js';
import { DEFAULT_QUALITY_SAMPLE, QualitySignals } from './quality.js';
import {
  CandidateTimeoutError,
  DEFAULT_SEARCH_DEADLINE_MS,
  OverloadedError,
  SearchSlots,
  SearchTimeoutError,
  within,
} from './load.js';
import { deleteManaged, upsertManaged } from './managed-writes.js';
import { RerankStage } from './rerank-stage.js';
import { RerankSwitchWatcher } from './rerank-switch.js';
import { asInvalidRequest, isCallerError, validateSearchRequest } from './request.js';
import { routeFor, servingForAll, type Route } from './routing.js';
import { servedStarted } from './served-load.js';
import { ShadowReads } from './shadow.js';
import { StoreChecks } from './store-check.js';
import type { FallbackReason, RouterOptions, RouterStats, SearchRequest, SearchResponse, Timed } from './types.js';
import { MigrationWatcher } from './watcher.js';

/** Of a search's deadline, this much is kept for answering after the rerank stage. */
const RERANK_DEADLINE_MARGIN_MS = 50;

export type {
  FallbackReason,
  RouterOptions,
  RouterStats,
  SearchRequest,
  SearchResponse,
  ShadowEvent,
} from './types.js';

/**
 * The read path of a migration: which profile serves a search (routing.ts), the candidate behind
 * a circuit breaker with the control as fallback (breakers.ts), bounded concurrency and deadlines
 * (load.ts), shadow reads that never touch the response (shadow.ts), and hot documents queued for
 * the backfill (hot-documents.ts). Every instance follows the migration row in the database, so a
 * rollback reaches all of them.
 */
export class Router {
  private readonly watcher: MigrationWatcher;
  private readonly embedders = new Map<string, Embedder>();
  private readonly storeChecks: StoreChecks;
  /** The router's settings: the manifest's `router:` section under the constructor's options. */
  private readonly settings: RouterOptions;
  private readonly breakers: CandidateBreakers;
  /** Bounded concurrency and queue in front of the pool for every store query of this router. */
  private readonly slots: SearchSlots;
  private readonly shadows: ShadowReads;
  private readonly hot: HotDocuments;
  /** Query vectors per profile fingerprint and query text (the profiles' `cache:` settings). */
  readonly queryCache: QueryCache;
  private readonly quality: QualitySignals;
  /** The profiles' rerank stages (their `rerank:` blocks), with the kill switch they follow. */
  readonly rerank: RerankStage;
  private readonly rerankSwitch: RerankSwitchWatcher;
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
    shadowDrops: { queue_full: 0, too_old: 0, closed: 0 },
    hotDocumentsQueued: 0,
    overloaded: 0,
    deadlineExceeded: 0,
  };

  constructor(
    private readonly db: Database,
    private readonly manifest: Manifest,
    private readonly source: Source,
    options: RouterOptions,
  ) {
    if (!manifest.profiles.has(options.defaultProfile))
      throw new ConfigError(`unknown profile ${options.defaultProfile}`);
    const fromManifest = manifest.router ?? {};
    const settings: RouterOptions = (this.settings = {
      ...options,
      maxQueryChars: options.maxQueryChars ?? fromManifest.maxQueryChars,
      maxConcurrentSearches: options.maxConcurrentSearches ?? fromManifest.maxConcurrentSearches,
      maxQueuedSearches: options.maxQueuedSearches ?? fromManifest.maxQueuedSearches,
      searchDeadlineMs: options.searchDeadlineMs ?? fromManifest.searchDeadlineMs,
      breaker: { ...fromManifest.breaker, ...options.breaker },
      shadow: { ...fromManifest.shadow, ...options.shadow },
    });
    const onBackgroundError = (error: unknown) => settings.onBackgroundError?.(error);
    this.watcher = new MigrationWatcher(db, `${source.schemaName}.${source.tableName}`, {
      pollMs: settings.pollMs,
      onError: settings.onBackgroundError,
      // A new step starts a new metrics window: gates of the step never count the last one's traffic.
      onChange: (m) => this.metrics?.setMigration(m ? { id: m.id, version: m.version } : null),
    });
    this.storeChecks = new StoreChecks(db);
    this.slots = new SearchSlots(settings.maxConcurrentSearches, settings.maxQueuedSearches);
    if (settings.metrics) checkRetentionMs(settings.metrics.retentionMs ?? 0);
    this.metrics =
      settings.metrics === false
        ? null
        : new ServingMetricsRecorder(db, { ...settings.metrics, onError: settings.onBackgroundError });
    this.observer = fanOut([this.metrics, settings.registry ? new PrometheusServingMetrics(settings.registry) : null]);
    this.breakers = new CandidateBreakers(
      settings.breaker ?? {},
      (p, q, r, budget) => this.searchWith(p, q, r, budget),
      (profile) => {
        this.stats.breakerOpens++;
        this.observer.breakerOpened(profile);
      },
    );
    this.shadows = new ShadowReads(
      settings,
      (profile, q, r) => this.searchWith(this.profile(profile), q, r),
      this.observer,
      this.stats,
      settings.random ?? Math.random,
    );
    this.hot = new HotDocuments(db, source, manifest.profiles, this.stats, onBackgroundError);
    this.queryCache = new QueryCache(db, { onError: onBackgroundError, now: settings.cacheClock });
    this.rerankSwitch = new RerankSwitchWatcher(db, { pollMs: settings.pollMs, onError: settings.onBackgroundError });
    this.rerank = new RerankStage(db, source, this.rerankSwitch, this.observer, {
      ...settings.rerank,
      onError: onBackgroundError,
    });
    this.quality = new QualitySignals(db, this.observer, {
      sample: settings.qualitySample ?? fromManifest.qualitySample ?? DEFAULT_QUALITY_SAMPLE,
      random: settings.random ?? Math.random,
      now: settings.now ?? (() => performance.now()),
      onError: onBackgroundError,
    });
  }

  async start(): Promise<this> {
    try {
      await this.watcher.start();
      // Only a manifest with a rerank stage has a switch to follow.
      if ([...this.manifest.profiles.values()].some((p) => p.rerank)) {
        await this.rerankSwitch.start();
        const m = this.watcher.current();
        // A reranker that cannot load (a bad weights file) fails the start, so a wrong
        // configuration is seen at once; a profile whose stage is switched off is not loaded,
        // so the kill switch is also the way to serve again while the configuration is fixed.
        const names = [this.settings.defaultProfile, m?.control, m?.candidate].filter(
          (n): n is string => !!n && !this.rerankSwitch.off(n),
        );
        await this.rerank.load(names.flatMap((n) => (this.manifest.profiles.has(n) ? [this.profile(n)] : [])));
      }
    } catch (error) {
      // A router that did not start leaves nothing running behind it (pollers, a LISTEN
      // connection): a caller that retries the start must not pile them up.
      await this.close().catch(() => undefined);
      throw error;
    }
    this.metrics?.start();
    if (this.settings.metrics !== false && !this.stopRetention) {
      this.stopRetention = startServingRetention(this.db, {
        retentionMs: this.settings.metrics?.retentionMs,
        onError: this.settings.onBackgroundError,
      });
    }
    return this;
  }

  /** The migration state this instance serves by (the last one it could read). */
  migration(): MigrationState | null {
    return this.watcher.current();
  }

  /** Re-reads the migration and the rerank switch now instead of waiting for the next poll. */
  refresh(): Promise<void> {
    return Promise.all([this.watcher.refresh(), this.rerankSwitch.refresh()]).then(() => undefined);
  }

  private profile(name: string): Profile {
    const p = this.manifest.profiles.get(name);
    if (!p) throw new ConfigError(`the migration names profile ${name}, which the manifest does not define`);
    return p;
  }

  private embedder(profile: Profile): Embedder {
    let e = this.embedders.get(profile.name);
    if (!e) this.embedders.set(profile.name, (e = createEmbedder(profile, this.settings.embedderOptions)));
    return e;
  }

  /** Which profile serves this subject now, and which is the other one. */
  route(subject: string | null | undefined): Route {
    return routeFor(this.watcher.current(), subject, this.settings.defaultProfile);
  }

  /** State of the candidate's circuit: closed (healthy), open (all traffic to the control) or halfOpen. */
  breakerState(profile: string): 'closed' | 'open' | 'halfOpen' {
    return this.breakers.state(profile);
  }

  /**
   * Embeds the query and searches the profile's store. With `budgetMs` (the candidate, under its
   * breaker) its own work is timed: the embed, then the store query from the moment it has a
   * slot, so waiting behind other searches (saturation of this process) is never its failure.
   */
  private async searchWith(profile: Profile, query: string, request: SearchRequest, budgetMs?: number): Promise<Timed> {
    await this.storeChecks.require(profile);
    const t0 = performance.now();
    // A cached vector skips the provider; the budget covers the lookup as it would the embed.
    const embedding = this.queryCache.vector(profile, query, async () => {
      const { vectors, usage } = await this.embedder(profile).embed([query], 'query');
      this.observer.queryTokens(profile.name, usage.tokens);
      return vectors[0]!;
    });
    const { vector, outcome } =
      budgetMs === undefined
        ? await embedding
        : await within(embedding, budgetMs, () => new CandidateTimeoutError(profile.name, budgetMs, 'embed'));
    this.observer.cache(profile.name, outcome);
    const t1 = performance.now();
    let queued = 0;
    const hits = await this.slots.run(() => {
      queued = performance.now() - t1;
      const searching = searchIndexed(this.db, this.source, profile, vector, request.k ?? 10, {
        filter: request.filter,
      });
      return budgetMs === undefined
        ? searching
        : within(searching, budgetMs - (t1 - t0), () => new CandidateTimeoutError(profile.name, budgetMs, 'search'));
    });
    return { hits, embed: t1 - t0, search: performance.now() - t1 - queued, queued };
  }

  /**
   * Serves one search. An invalid request (empty query, k out of range, unknown filter column)
   * fails with InvalidRequestError before routing and counts against no profile; a full queue
   * fails with OverloadedError; a search past the deadline with SearchTimeoutError.
   */
  async search(query: string, options: SearchRequest = {}): Promise<SearchResponse> {
    const deadline = this.settings.searchDeadlineMs ?? DEFAULT_SEARCH_DEADLINE_MS;
    // In flight until answered or failed: shadow reads wait while serving is busy (shadow-queue.ts).
    const ended = servedStarted();
    try {
      return await within(this.serve(query, options), deadline, () => {
        this.stats.deadlineExceeded++;
        return new SearchTimeoutError(deadline);
      });
    } finally {
      ended();
    }
  }

  private async serve(query: string, options: SearchRequest): Promise<SearchResponse> {
    const started = performance.now();
    const valid = validateSearchRequest(this.source, query, options, this.settings.maxQueryChars);
    const request: SearchRequest = { k: valid.k, subject: valid.subject, filter: valid.filter };
    const m = this.watcher.current();
    const route = this.route(request.subject);
    // What the embedder loads on first use (a tokenizer for a long query) is loaded here, outside
    // the breaker's timer: a cold process is not a failing candidate.
    const t0 = performance.now();
    await this.embedder(this.profile(route.serving)).warmUp?.([query], 'query');
    const init = performance.now() - t0;
    const answer = await this.answer(route, query, request);
    const { served, timed, fallbackReason } = answer;
    // The stage gets what is left of the deadline (less a margin to answer in): past it, the
    // retrieval's order is served rather than the search failing.
    const deadline = this.settings.searchDeadlineMs ?? DEFAULT_SEARCH_DEADLINE_MS;
    const left = Math.max(1, deadline - (performance.now() - started) - RERANK_DEADLINE_MARGIN_MS);
    const reranked = await this.rerank.apply(this.profile(served), query, valid.k, request.subject, timed.hits, left);
    const hits = reranked.hits;
    // Quality signals and shadow comparisons judge the retrieval, before any rerank stage: the
    // shadow search is never reranked, and a reranked first hit carries a retrieval score that
    // is not the top one, so comparing the reranked order would count the rerank stage against
    // a healthy candidate (or for it).
    const retrieved = timed.hits.length > valid.k ? timed.hits.slice(0, valid.k) : timed.hits;
    this.stats.searches[served] = (this.stats.searches[served] ?? 0) + 1;
    this.quality.record(this.profile(served), retrieved);
    if (m && route.other && !fallbackReason) {
      this.shadows.maybe(m, served, route.other, query, request, retrieved);
      if (served === m.control && this.settings.hotDocuments !== false) this.hot.queue(m, hits);
    }
    return {
      hits,
      profile: served,
      fallback: fallbackReason !== undefined,
      ...(fallbackReason ? { fallbackReason } : {}),
      ...(reranked.arm ? { rerank: reranked.arm } : {}),
      migration: m ? { id: m.id, phase: m.phase, percent: m.percent } : null,
      latencyMs: {
        init,
        fallback: answer.fallbackMs,
        queued: timed.queued,
        embed: timed.embed,
        search: timed.search,
        rerank: reranked.ms,
        total: performance.now() - started,
      },
    };
  }

  /** The chosen profile's answer; for the candidate, under its breaker with the control as fallback. */
  private async answer(
    route: Route,
    query: string,
    request: SearchRequest,
  ): Promise<{ served: string; timed: Timed; fallbackReason?: FallbackReason; fallbackMs: number }> {
    if (!route.candidateChosen || !route.other)
      return { served: route.serving, timed: await this.measured(route.serving, query, request), fallbackMs: 0 };
    const candidate = this.profile(route.serving);
    const tried = performance.now();
    try {
      const timed = await this.breakers.for(candidate).fire(candidate, query, this.rerank.widen(candidate, request));
      this.observer.request(route.serving, {
        ok: true,
        latencyMs: timed.embed + timed.search,
        embedMs: timed.embed,
        searchMs: timed.search,
      });
      return { served: route.serving, timed, fallbackMs: 0 };
    } catch (error) {
      // The queue was full: shed, as the control would be, rather than counted against the candidate.
      if (error instanceof OverloadedError) throw this.overloaded(error);
      // An error, a timeout or an open circuit: the control answers instead. An input the
      // candidate refuses is the caller's, so it is not counted as the candidate's error.
      const fallbackReason = fallbackReasonOf(error);
      if (fallbackReason.kind !== 'rejected_input')
        this.observer.request(route.serving, { ok: false, fallback: true, reason: fallbackReason });
      this.stats.fallbacks++;
      const fallbackMs = performance.now() - tried;
      return {
        served: route.other,
        timed: await this.measured(route.other, query, request),
        fallbackReason,
        fallbackMs,
      };
    }
  }

  /**
   * A search without a fallback, counted in the serving metrics (and rethrown when it fails).
   * An input the embedder refuses is the caller's: InvalidRequestError, counted nowhere.
   */
  private async measured(profile: string, query: string, request: SearchRequest): Promise<Timed> {
    try {
      const p = this.profile(profile);
      const timed = await this.searchWith(p, query, this.rerank.widen(p, request));
      this.observer.request(profile, {
        ok: true,
        latencyMs: timed.embed + timed.search,
        embedMs: timed.embed,
        searchMs: timed.search,
      });
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

  /**
   * Managed mode: writes go to the source, and capture fans them out to every capturing
   * profile's store. With `sync`, the serving profile embeds them before returning, so a new
   * document is searchable on return (the others catch up through the queue).
   */
  async upsert(
    docs: DocumentInput[],
    options: { sync?: boolean } = {},
  ): Promise<{ written: number; embedded: number }> {
    let sync: { profile: Profile; embedder: Embedder } | null = null;
    if (options.sync) {
      const profile = this.profile(servingForAll(this.watcher.current(), this.settings.defaultProfile));
      sync = { profile, embedder: this.embedder(profile) };
    }
    return upsertManaged(this.db, this.source, docs, sync);
  }

  /** Managed mode: deletes from the source; capture removes the documents from every store. */
  async delete(ids: string[]): Promise<number> {
    const m = this.watcher.current();
    const names = new Set([this.settings.defaultProfile, m?.control, m?.candidate]);
    const profiles = [...names].flatMap((n) =>
      n && this.manifest.profiles.get(n) ? [this.manifest.profiles.get(n)!] : [],
    );
    return deleteManaged(this.db, this.source, ids, profiles);
  }

  /**
   * Runs the sampled shadow reads still waiting for a quiet moment, now, and waits for them and
   * every one in flight. Searches never do; a caller pacing its own traffic (the demo) does, so
   * that no sample is dropped for want of a quiet moment.
   */
  drainShadows(): Promise<void> {
    return Promise.all([this.shadows.drain(), this.quality.drain()]).then(() => undefined);
  }

  /** Sampled shadow reads waiting for a quiet moment (not yet started). */
  get shadowsPending(): number {
    return this.shadows.pending;
  }

  async close(): Promise<void> {
    this.watcher.stop();
    this.rerankSwitch.stop();
    this.breakers.shutdown();
    this.rerank.shutdown();
    await this.shadows.close();
    await this.quality.close();
    await this.queryCache.drain();
    await this.metrics?.close();
    await this.stopRetention?.();
  }
}
