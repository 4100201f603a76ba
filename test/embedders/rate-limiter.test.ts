import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/embedders/rate-limiter.js';

/** A clock that only moves when the limiter sleeps. */
function fakeClock(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void> } {
  let time = 0;
  return {
    now: () => time,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      time += ms;
    },
  };
}

async function startTimes(limiter: RateLimiter, clock: { now: () => number }, costs: number[]): Promise<number[]> {
  const times: number[] = [];
  for (const cost of costs) {
    await limiter.acquire(cost);
    times.push(clock.now());
  }
  return times;
}

describe('RateLimiter', () => {
  it('spaces requests to the rpm after a one-second burst', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ rpm: 120 }, clock);
    expect(await startTimes(limiter, clock, [1, 1, 1, 1, 1])).toEqual([0, 0, 500, 1000, 1500]);
  });

  it('spaces requests to the tpm by their token cost', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ tpm: 6000 }, clock); // 100 tokens per second
    expect(await startTimes(limiter, clock, [100, 100, 50, 50, 100])).toEqual([0, 1000, 1500, 2000, 3000]);
  });

  it('lets a request larger than the burst through, then makes the next ones pay for it', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ tpm: 6000 }, clock);
    // 500 tokens is 5 s of budget: it starts at once, and a 10-token request waits 4.1 s.
    expect(await startTimes(limiter, clock, [500, 10])).toEqual([0, 4100]);
  });

  it('applies the stricter of rpm and tpm', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ rpm: 60, tpm: 600_000 }, clock);
    expect(await startTimes(limiter, clock, [10, 10, 10])).toEqual([0, 1000, 2000]);
  });

  it('does not wait without limits', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({}, clock);
    expect(await startTimes(limiter, clock, [1e9, 1e9, 1e9])).toEqual([0, 0, 0]);
  });

  it('holds every caller back during a pause (Retry-After)', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({}, clock);
    limiter.pause(3000);
    limiter.pause(1000); // a shorter pause never shortens a longer one
    expect(await startTimes(limiter, clock, [1, 1])).toEqual([3000, 3000]);
  });

  it('reserves in call order for concurrent callers', async () => {
    const waits: number[] = [];
    const limiter = new RateLimiter(
      { rpm: 60 },
      {
        now: () => 0,
        sleep: async (ms) => {
          waits.push(ms);
        },
      },
    );
    await Promise.all([limiter.acquire(1), limiter.acquire(1), limiter.acquire(1)]);
    expect(waits).toEqual([1000, 2000]);
  });

  it('gives back what a reservation overestimated, and takes what it underestimated', async () => {
    const clock = fakeClock();
    const overestimated = new RateLimiter({ tpm: 6000 }, clock); // 100 tokens per second
    await overestimated.acquire(400); // the bound; the provider then reports 100
    overestimated.refund(300);
    await overestimated.acquire(100);
    expect(clock.now()).toBe(1000);

    const kept = new RateLimiter({ tpm: 6000 }, clock);
    const start = clock.now();
    await kept.acquire(400); // no refund: the next request pays for all 400
    await kept.acquire(100);
    expect(clock.now() - start).toBe(4000);

    const under = new RateLimiter({ tpm: 6000 }, clock);
    const from = clock.now();
    await under.acquire(100);
    under.refund(-200); // the provider counted 300
    await under.acquire(100);
    expect(clock.now() - from).toBe(3000);
  });

  it('banks nothing from a refund on an empty bucket', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ tpm: 6000 }, clock);
    limiter.refund(100_000);
    expect(await startTimes(limiter, clock, [100, 100, 100])).toEqual([0, 1000, 2000]);
  });

  it('stops waiting when the signal aborts', async () => {
    const limiter = new RateLimiter({ rpm: 1 });
    await limiter.acquire(1);
    const controller = new AbortController();
    const waiting = limiter.acquire(1, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});
