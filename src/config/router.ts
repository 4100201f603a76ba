import { z } from 'zod';
import { durationSchema } from './duration-schema.js';

/**
 * `router:` in reembed.yaml: how each instance's read path protects itself. Every key has a
 * default; library callers may still override any of them in open({ router }).
 */
const duration = durationSchema;

export const routerSchema = z
  .object({
    breaker: z
      .object({
        /** A candidate search slower than this counts as failed and the control answers. */
        timeout: duration.optional(),
        /** Share of failed candidate searches in the rolling window that opens the circuit. */
        error_threshold_percentage: z.number().min(1).max(100).optional(),
        /** Searches in the rolling window before the percentage applies. */
        volume_threshold: z.number().int().min(0).optional(),
        /** Failed candidate searches in a row that open the circuit whatever the window holds. */
        consecutive_failures: z.number().int().min(1).optional(),
        /** How long an open circuit waits before it lets one search try the candidate again. */
        reset_timeout: duration.optional(),
        /** The window the percentage is counted over. */
        rolling_window: duration.optional(),
      })
      .strict()
      .optional(),
    shadow: z
      .object({
        enabled: z.boolean().optional(),
        /** A shadow read that takes longer (from when it starts) is counted as a shadow error. */
        timeout: duration.optional(),
        /** Shadow reads one router runs at once. */
        max_concurrent: z.number().int().min(1).optional(),
        /** Sampled reads that may wait for a quiet moment; more are dropped (queue_full). */
        max_queued: z.number().int().min(0).optional(),
        /** A sampled read that waited longer is dropped (too_old). */
        max_age: duration.optional(),
        /** A sampled read starts only while fewer served searches than this are in flight in the process. */
        max_inflight_served: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Share of answered searches whose top 5's mean pairwise cosine is measured after the response (default 0.1). */
    quality_sample: z.number().min(0).max(1).optional(),
    /** Longer queries are refused (InvalidRequestError) before they are embedded. */
    max_query_chars: z.number().int().min(1).optional(),
    /** Store queries one router runs at once; keep it under the connection pool's size (10). */
    max_concurrent_searches: z.number().int().min(1).optional(),
    /** Searches that may wait for a slot before more are refused with OVERLOADED. */
    max_queued_searches: z.number().int().min(0).optional(),
    /** A search that takes longer fails with SEARCH_TIMEOUT, control and candidate alike. */
    search_deadline: duration.optional(),
  })
  .strict();

/** The router's settings from the manifest, in RouterOptions' own shape (absent keys: defaults). */
export interface RouterSettings {
  qualitySample?: number;
  breaker?: {
    timeoutMs?: number;
    errorThresholdPercentage?: number;
    volumeThreshold?: number;
    consecutiveFailures?: number;
    resetTimeoutMs?: number;
    rollingWindowMs?: number;
  };
  shadow?: {
    enabled?: boolean;
    timeoutMs?: number;
    maxConcurrent?: number;
    maxQueued?: number;
    maxAgeMs?: number;
    maxInflightServed?: number;
  };
  maxQueryChars?: number;
  maxConcurrentSearches?: number;
  maxQueuedSearches?: number;
  searchDeadlineMs?: number;
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function parseRouter(raw: unknown, problems: string[]): RouterSettings {
  const parsed = routerSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    problems.push(...parsed.error.issues.map((i) => `router.${i.path.map(String).join('.')}: ${i.message}`));
    return {};
  }
  const r = parsed.data;
  return defined({
    breaker: r.breaker
      ? defined({
          timeoutMs: r.breaker.timeout,
          errorThresholdPercentage: r.breaker.error_threshold_percentage,
          volumeThreshold: r.breaker.volume_threshold,
          consecutiveFailures: r.breaker.consecutive_failures,
          resetTimeoutMs: r.breaker.reset_timeout,
          rollingWindowMs: r.breaker.rolling_window,
        })
      : undefined,
    shadow: r.shadow
      ? defined({
          enabled: r.shadow.enabled,
          timeoutMs: r.shadow.timeout,
          maxConcurrent: r.shadow.max_concurrent,
          maxQueued: r.shadow.max_queued,
          maxAgeMs: r.shadow.max_age,
          maxInflightServed: r.shadow.max_inflight_served,
        })
      : undefined,
    qualitySample: r.quality_sample,
    maxQueryChars: r.max_query_chars,
    maxConcurrentSearches: r.max_concurrent_searches,
    maxQueuedSearches: r.max_queued_searches,
    searchDeadlineMs: r.search_deadline,
  });
}
