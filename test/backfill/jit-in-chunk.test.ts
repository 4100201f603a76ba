/**
 * A worker inside a chunk embeds just-in-time requests of the chunk's profile before its next
 * page: a search waiting for a document does not wait for the rest of the chunk (found in
 * review: with chunks of 5,000 rows and a remote provider, requests waited minutes).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { jitSummary } from '../../src/backfill/jit.js';
import { JIT_PRIORITY, enqueue } from '../../src/source/capture.js';
import { databaseNow } from '../../src/db/clock.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { waitFor } from '../helpers/wait.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from './helpers.js';

describe.each(BACKENDS)('just-in-time requests inside a chunk on %s', (backend) => {
  let fake: FakeProvider;
  beforeAll(async () => {
    // Slow enough that the request arrives while the chunk still has pages to go.
    fake = await startFakeProvider({ dims: 8, latencyMs: 100 });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('are embedded before the chunk goes on, in a request of their own', async () => {
    const db = await openTestDatabase(backend);
    try {
      await createArticles(db, 80);
      const manifest = articlesManifest({
        remote: { provider: 'ollama', base_url: fake.url, model: 'm', dims: 8, batch_size: 10, concurrency: 1 },
      });
      const source = await articlesSource(db, manifest);
      const profile = getProfile(manifest, 'remote');
      // One chunk of all 80 rows, read in pages of 10 in id order.
      await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
      const run = runBackfill(db, { source, profiles: [profile], pageSize: 10, pipelineDepth: 1, urgentCheckMs: 0 });
      expect(await waitFor(() => fake.requests.length >= 1, 10_000)).toBe(true);
      // A search asks for article 78, which the chunk would reach only with its last page.
      await enqueue(db, profile.name, ['78'], JIT_PRIORITY);
      await run;

      const isArticle = (n: number) => (text: string) => text.startsWith(`Title ${n}\n`);
      const alone = fake.requests.findIndex((r) => r.inputs.length === 1 && isArticle(78)(r.inputs[0]!));
      const lastPage = fake.requests.findIndex((r) => r.inputs.some(isArticle(71)));
      expect(alone).toBeGreaterThan(0);
      expect(alone).toBeLessThan(lastPage);
      // Embedded once: the chunk's last page found it current and left it out.
      expect(fake.requests.flatMap((r) => r.inputs).filter(isArticle(78))).toHaveLength(1);
      expect(await countCoverage(db, source, profile)).toMatchObject({ current: 80, ratio: 1 });
      const now = await databaseNow(db);
      const jit = await jitSummary(db, profile.name, { from: new Date(now.getTime() - 300_000), to: now });
      expect(jit).toMatchObject({ completed: 1, pending: 0 });
    } finally {
      await db.close();
    }
  });
});
