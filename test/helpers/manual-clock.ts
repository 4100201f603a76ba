/**
 * A clock that moves only when the test says so: `sleep` waits until `advance` has moved the
 * time past its deadline. Code that waits on it (a rate limiter) makes progress in steps the
 * test controls, so a test counts what happens per second of this time instead of per second
 * of a loaded machine's.
 */
export class ManualClock {
  private time = 0;
  private readonly waiters = new Set<{ at: number; wake: () => void }>();

  readonly now = (): number => this.time;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter = {
        at: this.time + ms,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (ms <= 0) return waiter.wake();
      this.waiters.add(waiter);
    });

  /** How many sleeps are waiting for the time to move. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Moves the time on and wakes every sleep whose deadline it reached. */
  advance(ms: number): void {
    this.time += ms;
    for (const w of [...this.waiters]) {
      if (w.at <= this.time) {
        this.waiters.delete(w);
        w.wake();
      }
    }
  }
}
