/**
 * Client-side rate limits (requests and tokens per minute), shared by every batch of one
 * embedder, that make callers wait instead of failing.
 *
 * Each limit is a leaky bucket kept as a "theoretical arrival time" (GCRA): one number per
 * limit, no timers, and reservations are taken in call order, so waiting callers are served
 * first come, first served. The burst allowance is one second's worth of the limit, not a
 * whole minute's: providers enforce per-minute limits over shorter windows, so sending 3,000
 * requests in the first second of a 3,000 rpm minute gets 429s.
 */
import { abortableSleep, type Sleep } from './sleep.js';

export interface RateLimits {
  rpm?: number;
  tpm?: number;
}

export interface RateLimiterOptions {
  now?: () => number;
  sleep?: Sleep;
  /** Burst allowance in ms of the limit (default 1,000). */
  burstMs?: number;
}

class Bucket {
  /** When the bucket would be empty again, in `now()` milliseconds. */
  private drainedAt = -Infinity;
  /** Milliseconds of bucket level that one unit (a request, a token) adds. */
  private readonly msPerUnit: number;

  constructor(
    perMinute: number,
    private readonly burstMs: number,
  ) {
    this.msPerUnit = 60_000 / perMinute;
  }

  /** Earliest time at which `units` fit. A request larger than the burst waits for an empty bucket. */
  earliest(units: number, now: number): number {
    const level = Math.min(units * this.msPerUnit, this.burstMs);
    return Math.max(now, this.drainedAt + level - this.burstMs);
  }

  take(units: number, at: number): void {
    this.drainedAt = Math.max(this.drainedAt, at) + units * this.msPerUnit;
  }

  /** Gives back units taken but not used. An empty bucket stays empty: nothing is banked. */
  give(units: number): void {
    this.drainedAt -= units * this.msPerUnit;
  }
}

export class RateLimiter {
  private requests?: Bucket;
  private tokens?: Bucket;
  private readonly burstMs: number;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private pausedUntil = -Infinity;

  constructor(limits: RateLimits, options: RateLimiterOptions = {}) {
    this.burstMs = options.burstMs ?? 1000;
    this.setLimits(limits);
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
  }

  /**
   * Waits until one request of `tokens` tokens may start, and reserves it. The reservation is
   * taken before waiting, so concurrent callers line up instead of all waking at once.
   */
  async acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    await this.tryAcquire(tokens, Infinity, signal);
  }

  /**
   * Like acquire, for a caller that cannot wait long (a search): when the request could not
   * start within `maxWaitMs`, nothing is reserved and it returns false at once.
   */
  async tryAcquire(tokens: number, maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    const now = this.now();
    const start = Math.max(
      now,
      this.pausedUntil,
      this.requests?.earliest(1, now) ?? now,
      this.tokens?.earliest(tokens, now) ?? now,
    );
    if (start - now > maxWaitMs) return false;
    this.requests?.take(1, start);
    this.tokens?.take(tokens, start);
    if (start > now) await this.sleep(start - now, signal);
    else signal?.throwIfAborted();
    return true;
  }

  /**
   * Gives back `tokens` of a reservation that turned out larger than the request: callers
   * reserve an upper bound of a batch's tokens (its UTF-8 bytes) and the provider reports the
   * real count afterwards. A negative amount (a provider counting more) is taken now.
   */
  refund(tokens: number): void {
    if (!this.tokens || !Number.isFinite(tokens) || tokens === 0) return;
    if (tokens > 0) this.tokens.give(tokens);
    else this.tokens.take(-tokens, this.now());
  }

  /**
   * Changes the limits while running (a live throttle, or slowing down after 429s). The new
   * buckets start empty: a lower limit applies from the next request on.
   */
  setLimits(limits: RateLimits): void {
    this.requests = limits.rpm !== undefined ? new Bucket(limits.rpm, this.burstMs) : undefined;
    this.tokens = limits.tpm !== undefined ? new Bucket(limits.tpm, this.burstMs) : undefined;
  }

  /**
   * Holds every caller back for `ms`: when the provider says Retry-After, it means it for all
   * our requests, not only the one that got the 429.
   */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }
}
