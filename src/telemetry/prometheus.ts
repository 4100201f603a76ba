import { Counter, Histogram, type Registry } from 'prom-client';
import { warnAndContinue } from '../logger.js';
import type { CacheLookup, QualitySignal, RerankEvent, ServingOutcome } from './serving-metrics.js';

/** What the router reports about each search it serves: the database recorder and Prometheus both listen. */
export interface ServingObserver {
  request(profile: string, outcome: ServingOutcome): void;
  breakerOpened(profile: string): void;
  shadow(candidate: string, result: { overlap: number; rbo: number } | null): void;
  /** Where a search of the profile found its query vector. */
  cache(profile: string, lookup: CacheLookup): void;
  /** A quality signal of a search the profile answered. */
  quality(profile: string, signal: QualitySignal): void;
  /** Provider tokens of a query embedding of the profile (a cache miss). */
  queryTokens(profile: string, tokens: number): void;
  /** A sampled shadow read dropped under load: `queue_full` or `too_old`. */
  shadowDropped(candidate: string, reason: string): void;
  /** A search of the profile's rerank stage, by the arm that served it. */
  rerank(profile: string, event: RerankEvent): void;
}

/** Calls every observer; one that throws does not keep the others from hearing. */
export function fanOut(observers: ReadonlyArray<ServingObserver | null | undefined>): ServingObserver {
  const live = observers.filter((o): o is ServingObserver => Boolean(o));
  const each = (f: (o: ServingObserver) => void) => {
    for (const o of live) {
      try {
        f(o);
      } catch (error) {
        // Telemetry never fails a search, but a broken observer is said.
        warnAndContinue('a serving-metrics observer')(error);
      }
    }
  };
  return {
    request: (profile, outcome) => each((o) => o.request(profile, outcome)),
    breakerOpened: (profile) => each((o) => o.breakerOpened(profile)),
    shadow: (candidate, result) => each((o) => o.shadow(candidate, result)),
    cache: (profile, lookup) => each((o) => o.cache(profile, lookup)),
    quality: (profile, signal) => each((o) => o.quality(profile, signal)),
    queryTokens: (profile, tokens) => each((o) => o.queryTokens(profile, tokens)),
    shadowDropped: (candidate, reason) => each((o) => o.shadowDropped(candidate, reason)),
    rerank: (profile, event) => each((o) => o.rerank(profile, event)),
  };
}

/** Latency buckets in seconds, 1 ms to 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The router's serving figures as Prometheus metrics of this process, for a scrape endpoint the
 * application already has (`await registry.metrics()`): the same counts the controller's
 * online gates read from the database, labelled by profile.
 */
export class PrometheusServingMetrics implements ServingObserver {
  private readonly requests: Counter<'profile'>;
  private readonly errors: Counter<'profile'>;
  private readonly fallbacks: Counter<'profile' | 'reason'>;
  private readonly latency: Histogram<'profile'>;
  private readonly embedLatency: Histogram<'profile'>;
  private readonly queryLatency: Histogram<'profile'>;
  private readonly breakerOpens: Counter<'profile'>;
  private readonly shadowCompared: Counter<'candidate'>;
  private readonly shadowErrors: Counter<'candidate'>;
  private readonly shadowOverlap: Histogram<'candidate'>;
  private readonly cacheLookups: Counter<'profile' | 'result'>;
  private readonly top1Score: Histogram<'profile'>;
  private readonly top5Cosine: Histogram<'profile'>;
  private readonly queryTokenCount: Counter<'profile'>;
  private readonly shadowDrops: Counter<'candidate' | 'reason'>;
  private readonly rerankSearches: Counter<'profile' | 'arm'>;
  private readonly rerankChanged: Counter<'profile'>;
  private readonly rerankLatency: Histogram<'profile'>;

  /** Metrics already on the registry (a second router of the process, say) are shared, not registered twice. */
  constructor(registry: Registry) {
    const counter = <L extends string>(name: string, help: string, ...labels: L[]): Counter<L> =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ??
      new Counter({ name, help, labelNames: labels, registers: [registry] });
    const histogram = <L extends string>(name: string, help: string, label: L, buckets: number[]): Histogram<L> =>
      (registry.getSingleMetric(name) as Histogram<L> | undefined) ??
      new Histogram({ name, help, labelNames: [label], buckets, registers: [registry] });
    this.requests = counter(
      'reembed_search_requests_total',
      'Searches the profile was chosen for (answered or failed)',
      'profile',
    );
    this.errors = counter(
      'reembed_search_errors_total',
      'Searches of the profile that failed, timed out or were refused by an open circuit',
      'profile',
    );
    this.fallbacks = counter(
      'reembed_search_fallbacks_total',
      'Failed searches of the profile (a candidate) that the control answered instead, by reason (timeout, breaker_open, error)',
      'profile',
      'reason',
    );
    this.latency = histogram(
      'reembed_search_duration_seconds',
      'Embed plus search time of the searches the profile answered',
      'profile',
      LATENCY_BUCKETS,
    );
    this.embedLatency = histogram(
      'reembed_search_embed_duration_seconds',
      'Query embedding time of the searches the profile answered',
      'profile',
      LATENCY_BUCKETS,
    );
    this.queryLatency = histogram(
      'reembed_search_query_duration_seconds',
      'Store query time (pgvector) of the searches the profile answered',
      'profile',
      LATENCY_BUCKETS,
    );
    this.breakerOpens = counter(
      'reembed_circuit_breaker_opens_total',
      "Times the profile's circuit breaker opened",
      'profile',
    );
    this.shadowCompared = counter(
      'reembed_shadow_comparisons_total',
      "Shadow reads compared with the served results, by the migration's candidate",
      'candidate',
    );
    this.shadowErrors = counter(
      'reembed_shadow_errors_total',
      'Shadow reads that failed or timed out, by candidate',
      'candidate',
    );
    this.shadowOverlap = histogram(
      'reembed_shadow_overlap',
      'overlap@k of shadow reads with the served results, by candidate',
      'candidate',
      [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1],
    );
    this.shadowDrops = counter(
      'reembed_shadow_dropped_total',
      'Sampled shadow reads dropped under load, by candidate and reason (queue_full, too_old)',
      'candidate',
      'reason',
    );
    this.cacheLookups = counter(
      'reembed_query_cache_lookups_total',
      "Query-vector lookups of the profile's cache, by result: hit (this process), shared_hit (reembed.query_cache), miss (embedded by the provider)",
      'profile',
      'result',
    );
    const similarity = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];
    this.top1Score = histogram(
      'reembed_search_top1_score',
      'Score of the first result of the searches the profile answered (cosine similarity for cosine profiles)',
      'profile',
      similarity,
    );
    this.queryTokenCount = counter(
      'reembed_query_tokens_total',
      'Provider tokens of the query embeddings of the profile (cache misses; estimated where the provider reports none)',
      'profile',
    );
    this.rerankSearches = counter(
      'reembed_rerank_searches_total',
      'Searches of a profile with a rerank stage, by arm: on (reranked), off (not in the rerank slice, or switched off), fallback (the reranker failed; served unreranked)',
      'profile',
      'arm',
    );
    this.rerankChanged = counter(
      'reembed_rerank_changed_total',
      'Reranked searches whose first result the reranker changed (acceptance)',
      'profile',
    );
    this.rerankLatency = histogram(
      'reembed_rerank_duration_seconds',
      "Time of the profile's rerank stage (candidates' text and the reranker), reranked or fallen back",
      'profile',
      [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    this.top5Cosine = histogram(
      'reembed_search_top5_pairwise_cosine',
      'Mean pairwise cosine of the top 5 results of a sample of searches (near 1: near-duplicates)',
      'profile',
      similarity,
    );
  }

  rerank(profile: string, event: RerankEvent): void {
    this.rerankSearches.inc({ profile, arm: event.arm });
    if (event.changed) this.rerankChanged.inc({ profile });
    if (event.latencyMs !== undefined && Number.isFinite(event.latencyMs))
      this.rerankLatency.observe({ profile }, event.latencyMs / 1000);
  }

  queryTokens(profile: string, tokens: number): void {
    if (Number.isFinite(tokens) && tokens > 0) this.queryTokenCount.inc({ profile }, tokens);
  }

  quality(profile: string, signal: QualitySignal): void {
    if (signal.top1Score !== undefined && Number.isFinite(signal.top1Score))
      this.top1Score.observe({ profile }, signal.top1Score);
    if (signal.top5Cosine !== undefined && Number.isFinite(signal.top5Cosine))
      this.top5Cosine.observe({ profile }, signal.top5Cosine);
  }

  cache(profile: string, lookup: CacheLookup): void {
    if (lookup !== 'off') this.cacheLookups.inc({ profile, result: lookup });
  }

  request(profile: string, outcome: ServingOutcome): void {
    this.requests.inc({ profile });
    if (outcome.ok) {
      this.latency.observe({ profile }, outcome.latencyMs / 1000);
      if (outcome.embedMs !== undefined) this.embedLatency.observe({ profile }, outcome.embedMs / 1000);
      if (outcome.searchMs !== undefined) this.queryLatency.observe({ profile }, outcome.searchMs / 1000);
    } else {
      this.errors.inc({ profile });
      // The kind only: an error's code stays in the database's counts, off the label set.
      if (outcome.fallback) this.fallbacks.inc({ profile, reason: outcome.reason?.kind ?? 'error' });
    }
  }

  breakerOpened(profile: string): void {
    this.breakerOpens.inc({ profile });
  }

  shadow(candidate: string, result: { overlap: number; rbo: number } | null): void {
    if (!result) {
      this.shadowErrors.inc({ candidate });
      return;
    }
    this.shadowCompared.inc({ candidate });
    this.shadowOverlap.observe({ candidate }, result.overlap);
  }

  shadowDropped(candidate: string, reason: string): void {
    this.shadowDrops.inc({ candidate, reason });
  }
}
