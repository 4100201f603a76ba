import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdaptiveRate } from '../../src/backfill/adaptive-rate.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { setControl } from '../../src/backfill/control.js';
import { createThrottles } from '../../src/backfill/throttle.js';
import type { Database } from '../../src/db/database.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/wait.js';
import { createArticles, expectStoreMatchesSource, fakeEmbed, remoteArticles, sleep } from './helpers.js';

describe('adaptive rate', () => {
  it('halves on a 429 at most once a second and recovers with time, never below the floor', () => {
    let now = 0;
    const rate = new AdaptiveRate(0.1, () => now, 0.1);
    expect(rate.apply(600)).toBe(600);
    expect(rate.apply(undefined)).toBeUndefined();
    expect(rate.slowDown()).toBe(true);
    expect(rate.apply(600)).toBe(300);
    expect(rate.slowDown()).toBe(false); // the same burst of 429s
    for (let i = 0; i < 4; i++) {
      now += 1000;
      rate.slowDown();
    }
    expect(rate.value).toBe(0.1);
    // 0.1 of the full rate back per second without a 429, whatever the number of calls.
    now += 2000;
    rate.speedUp();
    expect(rate.value).toBeCloseTo(0.3, 12);
    for (let i = 0; i < 50; i++) rate.speedUp();
    expect(rate.value).toBeCloseTo(0.3, 12);
    now += 10_000;
    rate.speedUp();
    expect(rate.value).toBe(1);
    expect(rate.speedUp()).toBe(false);
  });
});

describe.each(BACKENDS)('throttle and rate limits on %s', (backend) => {
  let db: Database;
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 8 });
  });
  afterAll(() => fake.close());
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    fake.reset();
    fake.setFaults({});
  });
  afterEach(() => db.close());

  // The throttle's clock is a ManualClock: requests are counted per second of limiter time,
  // which the test moves on, not in real windows of a machine that may be loaded.
  it('obeys a throttle set while running, in every worker, within a second; lifting it lets the run finish', async () => {
    await createArticles(db, 1500);
    const { manifest, source, profile } = await remoteArticles(db, fake.url, {
      dims: 8,
      batch_size: 5,
      concurrency: 1,
    });
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    const clock = new ManualClock();
    const running = runBackfill(db, {
      source,
      profiles: [profile],
      workers: 2,
      pageSize: 20,
      throttles: createThrottles([profile], clock),
    });
    while (fake.requests.length < 20) await sleep(10);
    await setControl(db, 'remote', { rpm: 60 });
    await sleep(1000);
    // In force within a second: from here on, at most the request in flight of each worker
    // and the new limit's burst of one go out before both workers wait on the limiter.
    const atOneSecond = fake.requests.length;
    expect(await waitFor(() => clock.waiting === 2, 10_000)).toBe(true);
    const before = fake.requests.length;
    expect(before - atOneSecond).toBeLessThanOrEqual(3);
    for (let second = 0; second < 3; second++) {
      clock.advance(1000);
      expect(await waitFor(() => clock.waiting === 2, 10_000)).toBe(true);
    }
    const during = fake.requests.length - before;
    // 60 rpm shared by two workers is one request a second in all: 3 in these 3 s (the old
    // bound of real windows, which allowed each worker its burst and a request in flight, holds).
    expect(during).toBeLessThanOrEqual(6);
    await setControl(db, 'remote', { rpm: null });
    let finished = false;
    const done = running.finally(() => (finished = true));
    // Waits reserved under the throttle end as the time moves; the lifted throttle adds none.
    while (!finished) {
      clock.advance(60_000);
      await sleep(20);
    }
    const run = await done;
    expect(run.coverage.current).toBe(1500);
    expect((await expectStoreMatchesSource(db, source, profile, fakeEmbed(8))).mismatched).toEqual([]);
  });

  it("holds the profile's rpm for the whole process, however many workers it runs", async () => {
    await createArticles(db, 400);
    const { manifest, source, profile } = await remoteArticles(db, fake.url, {
      dims: 8,
      batch_size: 5,
      concurrency: 1,
      rate_limit: { rpm: 120 },
    });
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 50 });
    const controller = new AbortController();
    const clock = new ManualClock();
    const running = runBackfill(db, {
      source,
      profiles: [profile],
      workers: 3,
      pageSize: 10,
      signal: controller.signal,
      throttles: createThrottles([profile], clock),
    });
    // The burst (one second of 120 rpm) goes at once; then all three workers wait on the limiter.
    expect(await waitFor(() => clock.waiting === 3, 10_000)).toBe(true);
    const before = fake.requests.length;
    for (let second = 0; second < 3; second++) {
      clock.advance(1000);
      expect(await waitFor(() => clock.waiting === 3, 10_000)).toBe(true);
    }
    const during = fake.requests.length - before;
    controller.abort();
    await running;
    // 120 rpm is 2 requests a second for the process: 6 in 3 s. Three workers with a
    // limiter each would send about 18.
    expect(during).toBeGreaterThanOrEqual(4);
    expect(during).toBeLessThanOrEqual(8);
  });

  it('slows down on 429s and still embeds everything correctly', async () => {
    await createArticles(db, 200);
    const { manifest, source, profile } = await remoteArticles(db, fake.url, {
      dims: 8,
      batch_size: 10,
      concurrency: 2,
      rate_limit: { rpm: 6000 },
    });
    fake.setFaults({
      sequence: Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? { kind: 'rate-limit', retryAfter: '0' } : null)),
    });
    await prepareBackfill(db, source, profile, manifest.profiles);
    const run = await runBackfill(db, { source, profiles: [profile], pageSize: 50 });
    expect(run.workers[0]!.rateLimited).toBeGreaterThanOrEqual(6);
    expect(run.coverage.current).toBe(200);
    expect((await expectStoreMatchesSource(db, source, profile, fakeEmbed(8))).mismatched).toEqual([]);
  });
});
