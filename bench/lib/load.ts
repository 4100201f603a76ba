/**
 * Closed-loop load for the router-load benchmark: N callers, each issuing one search after
 * another until a deadline (or a cap on its count), with what they observe tallied in constant
 * memory, so a long soak measures the router's memory rather than the benchmark's.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Latencies in logarithmic buckets 1% wide from 10 µs up (about 20 minutes at the top), so a
 * quantile is within 1% of the exact one whatever the number of samples.
 */
export class LatencyHistogram {
  private static readonly MIN_MS = 0.01;
  private static readonly LOG_GROWTH = Math.log(1.01);
  private static readonly BUCKETS = 2000;
  private readonly counts = new Float64Array(LatencyHistogram.BUCKETS);
  count = 0;
  max = 0;

  record(ms: number): void {
    const i =
      ms <= LatencyHistogram.MIN_MS
        ? 0
        : Math.ceil(Math.log(ms / LatencyHistogram.MIN_MS) / LatencyHistogram.LOG_GROWTH);
    this.counts[Math.min(LatencyHistogram.BUCKETS - 1, i)]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile (0 < q ≤ 1): the upper bound of its bucket, never above the largest sample; null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, LatencyHistogram.MIN_MS * Math.exp(i * LatencyHistogram.LOG_GROWTH));
    }
    return this.max;
  }
}

/** What the callers of one run observed. */
export interface Tally {
  /** Searches answered. */
  ok: number;
  /** Caller-observed time of the answered searches. */
  latency: LatencyHistogram;
  /** Of that, the router's own `latencyMs.queued`: waiting for a store-query slot. */
  queued: LatencyHistogram;
  /** Longest call of any outcome (answered or failed), ms. */
  maxCallMs: number;
  /** Failed calls by error code (ReembedError) or class name. */
  errors: Record<string, number>;
  /** Answers the control gave after the candidate failed, by fallback reason. */
  fallbacks: Record<string, number>;
  /** Answers by serving profile. */
  served: Record<string, number>;
  /** Seconds the callers ran (first start to last finish). */
  seconds: number;
}

export function emptyTally(): Tally {
  return {
    ok: 0,
    latency: new LatencyHistogram(),
    queued: new LatencyHistogram(),
    maxCallMs: 0,
    errors: {},
    fallbacks: {},
    served: {},
    seconds: 0,
  };
}

export const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

export function errorKind(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.constructor.name : typeof error;
}

export interface SearchOutcome {
  profile: string;
  fallback: boolean;
  fallbackReason?: { kind: string; code?: string };
  latencyMs: { queued: number };
}

export interface LoadOptions {
  callers: number;
  ms: number;
  /** Each caller's cap on searches, so a run ends even if the clock misbehaves. */
  maxPerCaller: number;
  /** A caller whose search failed waits this long before the next (a client honouring "try again shortly"). */
  backoffMs: number;
  /** The search of caller c's i-th call. */
  search: (caller: number, i: number) => Promise<SearchOutcome>;
}

/** Runs the callers until the time is up, adding what they observe to `tally`. */
export async function runCallers(options: LoadOptions, tally: Tally): Promise<void> {
  const started = performance.now();
  const end = started + options.ms;
  await Promise.all(
    Array.from({ length: options.callers }, async (_, caller) => {
      for (let i = 0; i < options.maxPerCaller && performance.now() < end; i++) {
        const t0 = performance.now();
        try {
          const r = await options.search(caller, i);
          const ms = performance.now() - t0;
          tally.ok++;
          tally.latency.record(ms);
          tally.queued.record(r.latencyMs.queued);
          if (ms > tally.maxCallMs) tally.maxCallMs = ms;
          tally.served[r.profile] = (tally.served[r.profile] ?? 0) + 1;
          if (r.fallback) {
            const why = r.fallbackReason
              ? [r.fallbackReason.kind, r.fallbackReason.code].filter(Boolean).join(':')
              : '?';
            tally.fallbacks[why] = (tally.fallbacks[why] ?? 0) + 1;
          }
        } catch (error) {
          const ms = performance.now() - t0;
          if (ms > tally.maxCallMs) tally.maxCallMs = ms;
          const kind = errorKind(error);
          tally.errors[kind] = (tally.errors[kind] ?? 0) + 1;
          await sleep(options.backoffMs);
        }
      }
    }),
  );
  tally.seconds += (performance.now() - started) / 1000;
}
