/**
 * The low-priority queue shadow reads wait in (shadow.ts). A sample is taken after its response
 * was returned (`setImmediate`), and starts only while fewer than `maxInflightServed` served
 * searches are in flight in this process (served-load.ts), at most `maxConcurrent` at once: shadow
 * work fills the serving path's idle time and never competes with a search waiting to be served.
 * Under load samples are dropped, and counted: when `maxQueued` already wait (`queue_full`), or
 * when one waited longer than `maxAgeMs` (`too_old`). `drain` runs what waits now, whatever the
 * load, and resolves when nothing waits or runs.
 */
import { servedInFlight, whenServedEnds } from './served-load.js';

export type ShadowDropReason = 'queue_full' | 'too_old' | 'closed';
export const SHADOW_DROP_REASONS: readonly ShadowDropReason[] = ['queue_full', 'too_old', 'closed'];

export const DEFAULT_SHADOW_MAX_CONCURRENT = 1;
export const DEFAULT_SHADOW_MAX_QUEUED = 64;
export const DEFAULT_SHADOW_MAX_AGE_MS = 2000;
export const DEFAULT_SHADOW_MAX_INFLIGHT_SERVED = 1;

export interface ShadowQueueOptions<T> {
  maxConcurrent: number;
  maxQueued: number;
  maxAgeMs: number;
  /** A sample starts only while fewer served searches than this are in flight (1: only when none is). */
  maxInflightServed: number;
  now: () => number;
  onDrop: (reason: ShadowDropReason, tag: T) => void;
}

interface Waiting<T> {
  at: number;
  tag: T;
  run: () => Promise<void>;
}

export class ShadowQueue<T> {
  private readonly waiting: Waiting<T>[] = [];
  private running = 0;
  private scheduled = false;
  private draining = 0;
  private cancelWake: (() => void) | undefined;
  private idle: Array<() => void> = [];

  constructor(private readonly options: ShadowQueueOptions<T>) {}

  /** Samples waiting to start. */
  get pending(): number {
    return this.waiting.length;
  }

  /** Queues `run` (which must not reject); false when the sample was dropped because the queue is full. */
  offer(tag: T, run: () => Promise<void>): boolean {
    if (this.draining === 0) this.expire();
    if (this.waiting.length >= this.options.maxQueued) {
      this.options.onDrop('queue_full', tag);
      return false;
    }
    this.waiting.push({ at: this.options.now(), tag, run });
    this.schedule();
    return true;
  }

  /** Runs every waiting sample now (load and age notwithstanding); resolves when none waits or runs. */
  async drain(): Promise<void> {
    this.draining++;
    try {
      this.schedule();
      while (this.waiting.length > 0 || this.running > 0) await new Promise<void>((r) => this.idle.push(r));
    } finally {
      this.draining--;
    }
  }

  /**
   * Drops every waiting sample (reason `closed`) and waits only for those running: a closing
   * router must not spend its shutdown, and the last metrics window, on best-effort work.
   */
  async close(): Promise<void> {
    while (this.waiting.length > 0) this.options.onDrop('closed', this.waiting.shift()!.tag);
    while (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
  }

  /** Looks at the queue after the current I/O callbacks: never inside a served search's own turn. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    this.cancelWake?.();
    this.cancelWake = undefined;
    const forced = this.draining > 0;
    if (!forced) this.expire();
    while (this.waiting.length > 0 && this.running < this.options.maxConcurrent) {
      if (!forced && servedInFlight() >= this.options.maxInflightServed) {
        // Serving is busy: look again when a served search ends.
        this.cancelWake = whenServedEnds(() => this.schedule());
        break;
      }
      const sample = this.waiting.shift()!;
      this.running++;
      void sample.run().finally(() => {
        this.running--;
        this.schedule();
      });
    }
    if (this.waiting.length === 0 && this.running === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
    }
  }

  /** Drops the samples that waited longer than `maxAgeMs` (the oldest are first). */
  private expire(): void {
    const now = this.options.now();
    while (this.waiting.length > 0 && now - this.waiting[0]!.at > this.options.maxAgeMs) {
      this.options.onDrop('too_old', this.waiting.shift()!.tag);
    }
  }
}
