import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { enqueue } from '../../src/source/capture.js';
import { resolveSource } from '../../src/source/source.js';
import { storeLayout } from '../../src/store/store.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { articlesManifest, articlesSource, createArticles, expectStoreMatchesSource } from './helpers.js';

describe.each(BACKENDS)('ids, priorities and duplicates on %s', (backend) => {
  let db: Database;
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 8 });
  });
  afterAll(() => fake.close());
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    fake.reset();
  });
  afterEach(() => db.close());

  it.each([
    ['uuid', 'gen_random_uuid()'],
    ['bigint', '(9007199254740000 + i)'],
    ['text', "'doc/' || i || ' ''quoted'' ü'"],
  ])('backfills a table with %s ids', async (type, idExpr) => {
    await db.exec(`CREATE TABLE public.items (key ${type} PRIMARY KEY, body text NOT NULL)`);
    await db.exec(`INSERT INTO public.items SELECT ${idExpr}, 'item number ' || i FROM generate_series(1, 150) AS i`);
    const manifest = buildManifest(
      { source: { table: 'public.items', id: 'key', text: '{body}' }, profiles: { p: { provider: 'hash', dims: 16 } } },
      null,
    );
    const source = await resolveSource(db, manifest.source);
    expect(source.idType).toBe(type);
    const profile = getProfile(manifest, 'p');
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 40 });
    const run = await runBackfill(db, { source, profiles: [profile], pageSize: 25 });
    expect(run.coverage).toMatchObject({ sourceRows: 150, current: 150 });
    await db.exec(
      `UPDATE public.items SET body = body || ' (edited)' WHERE key = (SELECT key FROM public.items ORDER BY key LIMIT 1)`,
    );
    await db.exec(`DELETE FROM public.items WHERE key = (SELECT key FROM public.items ORDER BY key DESC LIMIT 1)`);
    await runBackfill(db, { source, profiles: [profile] });
    const check = await expectStoreMatchesSource(db, source, profile);
    expect(check).toMatchObject({ rows: 149, mismatched: [], missing: [], orphans: [] });
  });

  it('refuses an id column that is not unique and not null', async () => {
    await db.exec(`CREATE TABLE public.loose (key int, body text)`);
    const manifest = buildManifest(
      { source: { table: 'public.loose', id: 'key', text: '{body}' }, profiles: { p: { provider: 'hash', dims: 8 } } },
      null,
    );
    await expect(resolveSource(db, manifest.source)).rejects.toThrow(
      /must be the primary key, or NOT NULL with a unique index/,
    );
    await db.exec(`ALTER TABLE public.loose ALTER COLUMN key SET NOT NULL; CREATE UNIQUE INDEX ON public.loose (key)`);
    await expect(resolveSource(db, manifest.source)).resolves.toMatchObject({ idType: 'integer' });
  });

  it('serves queued and high-priority items before bulk chunks', async () => {
    await createArticles(db, 500);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    const profile = getProfile(manifest, 'small');
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    await enqueue(db, 'small', ['499'], 0);
    await enqueue(db, 'small', ['250'], 10);
    await runBackfill(db, { source, profiles: [profile], pageSize: 1, limit: 1 });
    const stored = async () =>
      (
        await db.query<{ doc_id: string }>(
          `SELECT doc_id FROM ${storeLayout(profile).table} ORDER BY embedded_at, doc_id`,
        )
      ).rows.map((r) => r.doc_id);
    expect(await stored()).toEqual(['250']);
    await runBackfill(db, { source, profiles: [profile], pageSize: 1, limit: 1 });
    expect(await stored()).toEqual(['250', '499']);
  });

  it('embeds identical texts once per page', async () => {
    await db.exec(`CREATE TABLE public.dups (id int PRIMARY KEY, body text NOT NULL)`);
    await db.exec(
      `INSERT INTO public.dups SELECT i, CASE WHEN i % 2 = 0 THEN 'same text' ELSE 'other ' || i END FROM generate_series(1, 60) AS i`,
    );
    const manifest = buildManifest(
      {
        source: { table: 'public.dups', id: 'id', text: '{body}' },
        profiles: { r: { provider: 'ollama', base_url: fake.url, model: 'fake', dims: 8, batch_size: 100 } },
      },
      null,
    );
    const source = await resolveSource(db, manifest.source);
    const profile = getProfile(manifest, 'r');
    await prepareBackfill(db, source, profile, manifest.profiles);
    const run = await runBackfill(db, { source, profiles: [profile], pageSize: 100 });
    expect(run.coverage.current).toBe(60);
    const inputs = fake.requests.flatMap((r) => (r.body as { input: string[] }).input);
    expect(inputs).toHaveLength(31); // 30 distinct "other" texts and "same text" once
    expect(inputs.filter((t) => t === 'same text')).toHaveLength(1);
  });
});
