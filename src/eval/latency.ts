/** Latency percentiles of one step (embed, search) over the queries of an evaluation. */
export interface LatencySummary {
  p50Ms: number;
  p95Ms: number;
  meanMs: number;
  maxMs: number;
}

/**
 * The nearest-rank percentile: the smallest sample that at least p% of the samples do not
 * exceed. Always an observed value, never an interpolation between two, so a p95 over 20
 * queries is the 19th slowest query, not a number no query took. 0 for no samples.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

export function summarizeLatency(samples: readonly number[]): LatencySummary {
  return {
    p50Ms: percentile(samples, 50),
    p95Ms: percentile(samples, 95),
    meanMs: samples.length ? samples.reduce((s, x) => s + x, 0) / samples.length : 0,
    maxMs: samples.reduce((m, x) => Math.max(m, x), 0),
  };
}
