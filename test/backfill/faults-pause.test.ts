import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { setControl } from '../../src/backfill/control.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { listFailures } from '../../src/backfill/failures.js';
import type { Database } from '../../src/db/database.js';
import { storeLayout } from '../../src/store/store.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import {
  articlesManifest,
  articlesSource,
  createArticles,
  expectStoreMatchesSource,
  fakeEmbed,
  getProfile,
  remoteArticles,
  sleep,
} from './helpers.js';
import { scaled } from '../helpers/slowdown.js';

describe.each(BACKENDS)('backfill against a faulty or slow provider on %s', (backend) => {
  let db: Database;
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 16 });
  });
  afterAll(() => fake.close());
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    fake.setFaults({});
  });
  afterEach(() => db.close());

  it('stores no bad vector under 20% injected faults; every row ends embedded or in the failures table', async () => {
    await createArticles(db, 400);
    const { manifest, source, profile } = await remoteArticles(db, fake.url, {
      dims: 16,
      batch_size: 10,
      max_retries: 1,
      timeout_ms: 300,
    });
    fake.setFaults({
      random: {
        rate: 0.2,
        seed: 7,
        faults: [
          { kind: 'status', status: 500 },
          { kind: 'rate-limit', retryAfter: '0' },
          { kind: 'reset' },
          { kind: 'malformed-json' },
          { kind: 'wrong-dims', dims: 5 },
          { kind: 'nan' },
          { kind: 'null-entry' },
          { kind: 'fewer-vectors' },
          { kind: 'zero-vector' },
          { kind: 'slow', delayMs: 1000 },
        ],
      },
    });
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    await runBackfill(db, { source, profiles: [profile], pageSize: 40, maxAttempts: 3, retryBaseMs: 20 });
    const coverage = await countCoverage(db, source, profile);
    const failures = await listFailures(db, 'remote', 1000);
    expect(coverage.stale).toBe(0);
    expect(coverage.current + failures.total).toBe(400);
    // Faults are passing ones: retries and halving get nearly every row through.
    expect(coverage.current).toBeGreaterThanOrEqual(360);
    for (const f of failures.failures) expect(f.errorClass).toMatch(/^[A-Z_]+$/);
    // Every stored vector is exactly what the provider returns for the row's text, normalized.
    const check = await expectStoreMatchesSource(db, source, profile, fakeEmbed(16));
    expect(check.mismatched).toEqual([]);
    expect(check.orphans).toEqual([]);
    expect(check.rows).toBe(coverage.current);
    expect(fake.requests.length).toBeGreaterThan(40);
  });

  it('pause stops all writes; resume finishes without loss', async () => {
    await createArticles(db, 600);
    const slow = await startFakeProvider({ dims: 16, latencyMs: 40 });
    try {
      const { manifest, source, profile } = await remoteArticles(db, slow.url, {
        dims: 16,
        batch_size: 10,
        concurrency: 1,
      });
      await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
      const running = runBackfill(db, { source, profiles: [profile], pageSize: 20 });
      const count = async () =>
        (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${storeLayout(profile).table}`)).rows[0]!.n;
      while ((await count()) < 60) await sleep(20);
      await setControl(db, 'remote', { paused: true });
      // The workers read the pause on their next control poll (every 250 ms) and write no page
      // after it. How soon is not asserted (a loaded machine delays timers); that they stop is:
      // wait, up to a scaled deadline, for the count to hold still for a second, then watch it
      // stay there for two more while the backfill is still running.
      const until = performance.now() + scaled(30_000);
      let last = await count();
      let stillSince = performance.now();
      while (performance.now() - stillSince < 1000 && performance.now() < until) {
        await sleep(50);
        const n = await count();
        if (n !== last) [last, stillSince] = [n, performance.now()];
      }
      expect(performance.now() - stillSince, 'writes went on after the pause').toBeGreaterThanOrEqual(1000);
      await sleep(2000);
      expect(await count()).toBe(last);
      expect(last).toBeLessThan(600);
      await setControl(db, 'remote', { paused: false });
      const run = await running;
      expect(run.coverage).toMatchObject({ current: 600, stale: 0, missing: 0 });
      expect((await expectStoreMatchesSource(db, source, profile, fakeEmbed(16))).mismatched).toEqual([]);
    } finally {
      await slow.close();
    }
  });
});

describe('several workers on postgres', () => {
  it('4 workers embed in parallel on a provider with latency, each a share of the chunks', async () => {
    // What makes several workers faster is that their provider requests overlap; that is what
    // is asserted here. How much faster (a ratio of wall times, which a loaded machine bends)
    // belongs to `npm run bench -- backfill`.
    const slow = await startFakeProvider({ dims: 16, latencyMs: 150 });
    const db = await openTestDatabase('postgres');
    try {
      const manifest = articlesManifest({
        remote: { provider: 'ollama', base_url: slow.url, model: 'fake', dims: 16, batch_size: 10, concurrency: 1 },
      });
      const profile = getProfile(manifest, 'remote');
      await createArticles(db, 640);
      const source = await articlesSource(db, manifest);
      await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 40 });
      const run = await runBackfill(db, { source, profiles: [profile], workers: 4, pageSize: 40, pipelineDepth: 1 });
      expect(run.coverage.current).toBe(640);
      expect(run.workers).toHaveLength(4);
      // 16 chunks of 150 ms requests: every worker leased some, and their requests overlapped.
      for (const w of run.workers) expect(w.rowsEmbedded).toBeGreaterThan(0);
      expect(run.workers.reduce((n, w) => n + w.rowsEmbedded, 0)).toBe(640);
      // One worker with concurrency 1 never has two requests in flight.
      expect(slow.maxInFlight).toBeGreaterThanOrEqual(4);
    } finally {
      await db.close();
      await slow.close();
    }
  });
});
