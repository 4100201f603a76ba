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

  it('pause stops all writes within a second; resume finishes without loss', async () => {
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
      const pausedAt = performance.now();
      let last = await count();
      let lastChange = pausedAt;
      while (performance.now() - pausedAt < 2500) {
        await sleep(50);
        const n = await count();
        if (n !== last) {
          last = n;
          lastChange = performance.now();
        }
      }
      expect(lastChange - pausedAt).toBeLessThan(1000);
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
  it('4 workers finish at least 3x faster than 1 on a provider with latency', async () => {
    // 150 ms rather than 50: the test suite runs files in parallel on 2 cores, and the fixed
    // cost of starting and draining workers must stay small beside the provider's latency.
    const slow = await startFakeProvider({ dims: 16, latencyMs: 150 });
    const db = await openTestDatabase('postgres');
    try {
      const manifest = articlesManifest({
        remote: { provider: 'ollama', base_url: slow.url, model: 'fake', dims: 16, batch_size: 10, concurrency: 1 },
      });
      const profile = getProfile(manifest, 'remote');
      const timeRun = async (workers: number) => {
        await db.exec('DROP TABLE IF EXISTS public.articles CASCADE');
        await db.exec(
          `DELETE FROM reembed.queue; DROP TABLE IF EXISTS reembed."emb_remote"; DELETE FROM reembed.profiles`,
        );
        await createArticles(db, 640);
        const source = await articlesSource(db, manifest);
        await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 40 });
        const started = performance.now();
        // Page after page: this measures what more workers add, not what one worker's pipeline
        // adds (backfill/pipeline.test.ts), which would shrink the ratio it asserts.
        const run = await runBackfill(db, { source, profiles: [profile], workers, pageSize: 40, pipelineDepth: 1 });
        expect(run.coverage.current).toBe(640);
        return performance.now() - started;
      };
      const one = await timeRun(1);
      const four = await timeRun(4);
      // 16 chunks of 4 requests of 150 ms: about 9.6 s for one worker, 4 rounds of 0.6 s for four.
      expect(one / four).toBeGreaterThanOrEqual(3);
      expect(slow.maxInFlight).toBeGreaterThanOrEqual(4);
    } finally {
      await db.close();
      await slow.close();
    }
  });
});
