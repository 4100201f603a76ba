/**
 * Shadow reads: on the migration's sample, the other profile's search runs after the response,
 * bounded in time, and is compared with what was served. It never changes the response or waits
 * on it; its errors go to the observer and onBackgroundError, never to the caller. Sampled reads
 * wait in a low-priority queue (shadow-queue.ts) that yields to served searches and drops, and
 * counts, what load leaves no room for.
 */
import type { MigrationState } from '../migration/state.js';
import type { SearchHit } from '../store/search.js';
import type { ServingObserver } from '../telemetry/prometheus.js';
import { compareResults } from './compare.js';
import { within } from './load.js';
import { shadowsIn } from './routing.js';
import {
  DEFAULT_SHADOW_MAX_AGE_MS,
  DEFAULT_SHADOW_MAX_CONCURRENT,
  DEFAULT_SHADOW_MAX_INFLIGHT_SERVED,
  DEFAULT_SHADOW_MAX_QUEUED,
  ShadowQueue,
  type ShadowDropReason,
} from './shadow-queue.js';
import type { RouterOptions, RouterStats, SearchRequest, ShadowEvent, Timed } from './types.js';

export class ShadowReads {
  private readonly queue: ShadowQueue<string>;
  private closed = false;

  constructor(
    private readonly options: Pick<RouterOptions, 'shadow' | 'onShadow' | 'onBackgroundError' | 'now'>,
    private readonly search: (profile: string, query: string, request: SearchRequest) => Promise<Timed>,
    private readonly observer: ServingObserver,
    private readonly stats: RouterStats,
    private readonly random: () => number,
  ) {
    const s = options.shadow ?? {};
    this.queue = new ShadowQueue<string>({
      maxConcurrent: s.maxConcurrent ?? DEFAULT_SHADOW_MAX_CONCURRENT,
      maxQueued: s.maxQueued ?? DEFAULT_SHADOW_MAX_QUEUED,
      maxAgeMs: s.maxAgeMs ?? DEFAULT_SHADOW_MAX_AGE_MS,
      maxInflightServed: s.maxInflightServed ?? DEFAULT_SHADOW_MAX_INFLIGHT_SERVED,
      now: options.now ?? (() => performance.now()),
      onDrop: (reason, candidate) => this.dropped(reason, candidate),
    });
  }

  /** Sampled reads waiting for a quiet moment. */
  get pending(): number {
    return this.queue.pending;
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
    if (this.options.shadow?.enabled === false || this.closed) return;
    if (!(m.shadowSample > 0) || !shadowsIn(m) || this.random() >= m.shadowSample) return;
    const timeoutMs = this.options.shadow?.timeoutMs ?? 1000;
    this.queue.offer(m.candidate, async () => {
      try {
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
        this.options.onShadow?.(event);
      } catch (error) {
        try {
          this.options.onBackgroundError?.(error);
        } catch {
          // The caller's own error handler threw: nothing is left to tell, and the queue goes on.
        }
      }
    });
  }

  private dropped(reason: ShadowDropReason, candidate: string): void {
    this.stats.shadowDropped++;
    this.stats.shadowDrops[reason]++;
    this.observer.shadowDropped(candidate, reason);
  }

  /** Runs the sampled reads still waiting, whatever the load, and waits for every one in flight. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  /**
   * Takes no more samples (a search still finishing after the router closed), drops those still
   * waiting (counted as `closed`) and waits for those running. `drain()` first to run them all.
   */
  close(): Promise<void> {
    this.closed = true;
    return this.queue.close();
  }
}
