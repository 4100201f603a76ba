/** The router's options, requests, responses and counters: the shapes its parts share. */
import type { Registry } from 'prom-client';
import type { CreateEmbedderOptions } from '../embedders/create.js';
import type { SearchHit, SearchOptions } from '../store/search.js';
import type { RecorderOptions } from '../telemetry/serving-metrics.js';
import type { Comparison } from './compare.js';
import type { RerankArm, RerankStageOptions } from './rerank-stage.js';
import type { ShadowDropReason } from './shadow-queue.js';

export interface ShadowSettings {
  enabled?: boolean;
  timeoutMs?: number;
  maxConcurrent?: number;
  maxQueued?: number;
  maxAgeMs?: number;
  maxInflightServed?: number;
}

export interface RouterOptions {
  /** The profile that serves when there is no migration (the environment's active profile). */
  defaultProfile: string;
  /**
   * Shadow reads of this instance; `enabled: false` turns them off whatever the migration's
   * sample. A sampled read waits in a low-priority queue and starts only while fewer than
   * `maxInflightServed` (default 1: none) served searches are in flight in this process, at most
   * `maxConcurrent` (1) at once; it is dropped and counted when `maxQueued` (64) already wait
   * (`queue_full`) or when it waited longer than `maxAgeMs` (2 s, `too_old`). `timeoutMs` (1 s)
   * bounds the read itself, from when it starts.
   */
  shadow?: ShadowSettings;
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
  /** Share of answered searches whose top 5's mean pairwise cosine is measured (router.quality_sample, default 0.1). */
  qualitySample?: number;
  /** The clock of the query cache's TTL, in milliseconds (tests); default performance.now. */
  cacheClock?: () => number;
  /** The clock (ms) the age of a waiting shadow sample is measured by (default performance.now). */
  now?: () => number;
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
  /** The rerank stages' HTTP client (tests inject fetch and sleep) and their breakers' thresholds. */
  rerank?: Omit<RerankStageOptions, 'onError'>;
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
   * For a profile with a rerank stage, the arm that served: `on` (reranked), `off` (outside the
   * rerank slice, or switched off), `fallback` (the reranker failed: the retrieval's order).
   */
  rerank?: RerankArm;
  /**
   * Where the time went: `init` (loading what the serving profile's embedder needs, outside the
   * breaker's timer), `fallback` (spent on the candidate before the control answered), `queued`
   * (waiting for a store-query slot behind this router's other searches), the served profile's
   * `embed` and `search`, its rerank stage's `rerank` (0 without one), and the `total` that includes them all.
   */
  latencyMs: {
    init: number;
    fallback: number;
    queued: number;
    embed: number;
    search: number;
    rerank: number;
    total: number;
  };
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
  /** Shadow samples dropped under load, in all and by reason. */
  shadowDropped: number;
  shadowDrops: Record<ShadowDropReason, number>;
  hotDocumentsQueued: number;
  /** Searches refused because the queue was full (OverloadedError). */
  overloaded: number;
  /** Searches that failed their deadline (SearchTimeoutError). */
  deadlineExceeded: number;
}

/** One profile's search: its hits and where the time went. */
export interface Timed {
  hits: SearchHit[];
  embed: number;
  search: number;
  /** Waiting for a store-query slot behind other searches of this router. */
  queued: number;
}
