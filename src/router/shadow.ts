/**
 * Shadow reads: on the migration's sample, the other profile's search runs after the response,
 * bounded in concurrency and time, and is compared with what was served. It never changes the
 * response or waits on it; its errors go to the observer and onBackgroundError, never to the caller.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { MigrationState } from '../migration/state.js';
import type { SearchHit } from '../store/search.js';
import type { ServingObserver } from '../telemetry/prometheus.js';
import { compareResults } from './compare.js';
import { within } from './load.js';
import { shadowsIn } from './routing.js';
import type { RouterOptions, RouterStats, SearchRequest, ShadowEvent, Timed } from './types.js';

export class ShadowReads {
  private readonly limit: LimitFunction;
  /** The shadow reads queued or running, so drain() can wait for every one of them. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly options: Pick<RouterOptions, 'shadow' | 'onShadow' | 'onBackgroundError'>,
    private readonly search: (profile: string, query: string, request: SearchRequest) => Promise<Timed>,
    private readonly observer: ServingObserver,
    private readonly stats: RouterStats,
    private readonly random: () => number,
  ) {
    this.limit = pLimit(options.shadow?.maxConcurrent ?? 4);
  }

  /** Fire and forget: never awaited by search. */
  maybe(
    m: MigrationState,
    served: string,
    other: string,
    query: string,
    request: SearchRequest,
    hits: SearchHit[],
  ): void {
    if (this.options.shadow?.enabled === false) return;
    if (!(m.shadowSample > 0) || !shadowsIn(m) || this.random() >= m.shadowSample) return;
    if (this.limit.pendingCount > 0) {
      // The shadow budget is full: drop this sample rather than queue work behind serving.
      this.stats.shadowDropped++;
      return;
    }
    const timeoutMs = this.options.shadow?.timeoutMs ?? 1000;
    const run = this.limit(async () => {
      const t0 = performance.now();
      const event: ShadowEvent = { migrationId: m.id, served, shadow: other, latencyMs: 0 };
      try {
        const shadow = await within(
          this.search(other, query, request),
          timeoutMs,
          () => new Error(`shadow search timed out after ${timeoutMs} ms`),
        );
        event.comparison =
          served === m.control
            ? compareResults(hits, shadow.hits, request.k ?? 10)
            : compareResults(shadow.hits, hits, request.k ?? 10);
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
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  /**
   * Waits for every shadow read in flight. (Queueing a no-op behind them would not: p-limit
   * runs it at once while a slot is free, before the reads already running have finished.)
   */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }
}
