/**
 * Issue 18 item 3: with an HTTP provider, a worker keeps pages of a chunk in flight at once, so
 * the provider's latency does not serialize the database work; every row still ends current.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { articlesManifest, articlesSource, createArticles, expectStoreMatchesSource, getProfile } from './helpers.js';

describe.each(BACKENDS)('a worker pipelines the pages of a chunk on %s', (backend) => {
  let fake: FakeProvider;
  beforeAll(async () => {
    // Slow enough that a page's request is still open when the next page is read.
    fake = await startFakeProvider({ dims: 8, latencyMs: 150 });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  async function backfill(pipelineDepth: number, limit?: number) {
    const db = await openTestDatabase(backend);
    await createArticles(db, 60);
    // One request per page: batch_size = pageSize.
    const manifest = articlesManifest({
      remote: { provider: 'ollama', base_url: fake.url, model: 'm', dims: 8, batch_size: 10, concurrency: 8 },
    });
    const source = await articlesSource(db, manifest);
    const profile = getProfile(manifest, 'remote');
    await prepareBackfill(db, source, profile, manifest.profiles);
    const run = await runBackfill(db, { source, profiles: [profile], pageSize: 10, pipelineDepth, limit });
    return { db, source, profile, run };
  }

  it('keeps the next page in flight while one waits for the provider, and ends current', async () => {
    const { db, source, profile, run } = await backfill(3);
    try {
      expect(fake.requests).toHaveLength(6);
      expect(fake.maxInFlight).toBeGreaterThan(1);
      expect(fake.maxInFlight).toBeLessThanOrEqual(3);
      expect(run.workers[0]!.rowsEmbedded).toBe(60);
      expect(await countCoverage(db, source, profile)).toMatchObject({ current: 60, ratio: 1 });
      expect(await expectStoreMatchesSource(db, source, profile)).toEqual({
        rows: 60,
        mismatched: [],
        missing: [],
        orphans: [],
      });
    } finally {
      await db.close();
    }
  });

  it('goes page after page with a depth of 1, or with a limit (stopping at it)', async () => {
    const serial = await backfill(1);
    try {
      expect(fake.maxInFlight).toBe(1);
      expect(serial.run.workers[0]!.rowsEmbedded).toBe(60);
    } finally {
      await serial.db.close();
    }
    fake.reset();
    const limited = await backfill(3, 20);
    try {
      expect(fake.maxInFlight).toBe(1);
      expect(limited.run.workers[0]!.rowsEmbedded).toBe(20);
      expect(fake.requests).toHaveLength(2);
    } finally {
      await limited.db.close();
    }
  });
});
