/**
 * Issue 17 item 5: a worker serving two profiles counted its rows and 429s once for both, so
 * status added the cloud profile's rate limits to the local one. Counts are kept per profile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBackfill } from '../../src/backfill/backfill.js';
import { liveWorkers } from '../../src/backfill/control.js';
import { Worker } from '../../src/backfill/worker.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from './helpers.js';
import { scaled } from '../helpers/slowdown.js';

describe.each(BACKENDS)('worker counts per profile on %s', (backend) => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 8 });
  });
  afterAll(() => fake.close());

  it("keeps one profile's rate limits and rows off the other's", async () => {
    const db = await openTestDatabase(backend);
    try {
      await createArticles(db, 120);
      const manifest = articlesManifest({
        cloud: { provider: 'ollama', base_url: fake.url, model: 'cloud', dims: 8, template: '{body}' },
      });
      const source = await articlesSource(db, manifest);
      const local = getProfile(manifest, 'small');
      const cloud = getProfile(manifest, 'cloud');
      for (const p of [local, cloud]) await prepareBackfill(db, source, p, manifest.profiles);
      // Every third request of the cloud provider is refused with 429 (retried at once).
      fake.setFaults((r) => (r.index % 3 === 0 ? { kind: 'rate-limit', retryAfter: '0' } : null));
      const stop = new AbortController();
      const worker = new Worker(db, {
        source,
        profiles: [local, cloud],
        mode: 'forever',
        signal: stop.signal,
        leaseSeconds: 1,
        idlePollMs: 50,
        pageSize: 20,
      });
      const running = worker.run().catch((e: unknown) => (stop.signal.aborted ? null : Promise.reject(e)));
      try {
        let done = false;
        const until = Date.now() + scaled(120_000);
        while (!done && Date.now() < until) {
          const [a, b] = await Promise.all([countCoverage(db, source, local), countCoverage(db, source, cloud)]);
          done = a.ratio === 1 && b.ratio === 1;
          if (!done) await new Promise((r) => setTimeout(r, 100));
        }
        expect(done).toBe(true);
        // The heartbeat (every third of the lease) carries the counts: wait for one after the work.
        let live = await liveWorkers(db, 60);
        const heartbeatUntil = Date.now() + scaled(60_000);
        while (
          live.find((w) => w.workerId === worker.id)?.byProfile.cloud?.rowsEmbedded !== 120 &&
          Date.now() < heartbeatUntil
        ) {
          await new Promise((r) => setTimeout(r, 100));
          live = await liveWorkers(db, 60);
        }
        const mine = live.find((w) => w.workerId === worker.id)!;
        expect(mine.byProfile.small).toMatchObject({ rowsEmbedded: 120, rateLimited: 0 });
        expect(mine.byProfile.cloud!.rowsEmbedded).toBe(120);
        expect(mine.byProfile.cloud!.rateLimited).toBeGreaterThan(0);
        expect(mine.rateLimited).toBe(mine.byProfile.cloud!.rateLimited);
        // The process's resident memory at the heartbeat: this test process, so within its own range.
        expect(mine.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
        expect(mine.rssBytes).toBeLessThan(process.memoryUsage.rss() * 4);
      } finally {
        stop.abort();
        await running;
      }
    } finally {
      await db.close();
    }
  });
});
