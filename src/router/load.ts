/**
 * Back-pressure and deadlines of the serving path. A router runs at most `maxConcurrent` store
 * queries at once (below the pool's size, so it never queues inside the pool), holds at most
 * `maxQueued` more, and refuses the rest at once with OverloadedError instead of queueing
 * without bound. The time a search waits for a slot is the process's saturation, not any
 * profile's fault: the candidate's timer starts after it has a slot.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { ReembedError } from '../errors.js';

/** The router's queue is full: shed, counted as overload, never as a profile's error. */
export class OverloadedError extends ReembedError {
  constructor(queued: number) {
    super('OVERLOADED', `the search queue is full (${queued} searches waiting); try again shortly`, {
      exitCode: 1,
      details: { queued },
    });
  }
}

/** A search did not finish within the router's deadline (control or candidate alike). */
export class SearchTimeoutError extends ReembedError {
  constructor(deadlineMs: number) {
    super('SEARCH_TIMEOUT', `the search did not finish within its deadline of ${deadlineMs} ms`, {
      exitCode: 1,
      details: { deadlineMs },
    });
  }
}

/** The candidate's own work (its embed and its store query) took longer than the breaker's timeout. */
export class CandidateTimeoutError extends ReembedError {
  constructor(profile: string, timeoutMs: number, phase: 'embed' | 'search') {
    super('CANDIDATE_TIMEOUT', `profile ${profile}: its ${phase} took longer than the breaker's ${timeoutMs} ms`, {
      exitCode: 1,
      details: { profile, timeoutMs, phase },
    });
  }
}

export const DEFAULT_MAX_CONCURRENT_SEARCHES = 8;
export const DEFAULT_MAX_QUEUED_SEARCHES = 512;
export const DEFAULT_SEARCH_DEADLINE_MS = 5000;

export class SearchSlots {
  private readonly limit: LimitFunction;
  constructor(
    maxConcurrent = DEFAULT_MAX_CONCURRENT_SEARCHES,
    private readonly maxQueued = DEFAULT_MAX_QUEUED_SEARCHES,
  ) {
    this.limit = pLimit(maxConcurrent);
  }

  get queued(): number {
    return this.limit.pendingCount;
  }

  /** Runs fn once a slot is free; refuses at once when `maxQueued` searches already wait. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.limit.activeCount >= this.limit.concurrency && this.limit.pendingCount >= this.maxQueued)
      return Promise.reject(new OverloadedError(this.limit.pendingCount));
    return this.limit(fn);
  }

  /** Waits for the searches in flight (and queued) to finish. */
  async drain(): Promise<void> {
    await this.limit(async () => {});
  }
}

/** `promise`, or `error()` once `ms` have passed; the timer never keeps the process alive. */
export function within<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), Math.max(1, ms));
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
