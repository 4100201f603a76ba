import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Database } from '../../src/db/database.js';
import { createEmbedder } from '../../src/embedders/create.js';
import { buildIndex } from '../../src/store/index.js';
import { storeLayout } from '../../src/store/store.js';
import { vectorLiteral } from '../../src/db/sql.js';
import { searchExact, searchIndexed } from '../../src/store/search.js';
import type { Source } from '../../src/source/source.js';
import type { Profile } from '../../src/config/profile.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe.each(BACKENDS)('indexed search on %s', (backend) => {
  let db: Database;
  let source: Source;
  let profile: Profile;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 400);
    const manifest = articlesManifest();
    source = await articlesSource(db, manifest);
    profile = getProfile(manifest, 'small');
    await prepareBackfill(db, source, profile, manifest.profiles);
    await runBackfill(db, { source, profiles: [profile] });
    await buildIndex(db, profile);
  });
  afterAll(() => db.close());

  const vector = async (text: string) => (await createEmbedder(profile).embed([text], 'query')).vectors[0]!;

  it('finds what exact search finds, with the default and a raised ef_search', async () => {
    const q = await vector('Title 17 Body of article 17 about fish');
    const exact = await searchExact(db, profile, q, 5);
    expect(exact[0]!.id).toBe('17');
    for (const efSearch of [undefined, 200]) {
      const hits = await searchIndexed(db, source, profile, q, 5, { efSearch });
      // The whole top k, in order, not only the first hit.
      expect(hits.map((h) => h.id)).toEqual(exact.map((h) => h.id));
      hits.forEach((h, i) => expect(h.score).toBeCloseTo(exact[i]!.score, 6));
      expect(hits).toHaveLength(5);
    }
  });

  it('filters on a source column and still returns k results', async () => {
    await db.exec(`UPDATE public.articles SET views = id % 10`);
    const q = await vector('article about cats');
    const hits = await searchIndexed(db, source, profile, q, 8, { filter: { column: 'views', value: '3' } });
    expect(hits).toHaveLength(8);
    expect(hits.every((h) => Number(h.id) % 10 === 3)).toBe(true);
    await expect(searchIndexed(db, source, profile, q, 5, { efSearch: 5000 })).rejects.toThrow(/ef_search/);
  });
});

describe.each(BACKENDS)('IVFFlat search on %s', (backend) => {
  let db: Database;
  let source: Source;
  let profile: Profile;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 400);
    const manifest = articlesManifest({
      ivf: { provider: 'hash', dims: 32, index: { type: 'ivfflat', lists: 8, probes: 8 } },
    });
    source = await articlesSource(db, manifest);
    profile = getProfile(manifest, 'ivf');
    await prepareBackfill(db, source, profile, manifest.profiles);
    await runBackfill(db, { source, profiles: [profile] });
    expect((await buildIndex(db, profile)).search).toBe('ivfflat');
  });
  afterAll(() => db.close());

  const vector = async (text: string) => (await createEmbedder(profile).embed([text], 'query')).vectors[0]!;

  it('finds what exact search finds at the profile’s probes (every list)', async () => {
    const q = await vector('Title 17 Body of article 17 about fish');
    const exact = await searchExact(db, profile, q, 5);
    expect(exact[0]!.id).toBe('17');
    const hits = await searchIndexed(db, source, profile, q, 5);
    expect(hits.map((h) => h.id)).toEqual(exact.map((h) => h.id));
  });

  it('filters with an iterative scan: k results at one probe of eight lists', async () => {
    await db.exec(`UPDATE public.articles SET views = id % 10`);
    const q = await vector('article about cats');
    const hits = await searchIndexed(db, source, profile, q, 8, {
      searchValue: 1,
      filter: { column: 'views', value: '3' },
    });
    expect(hits).toHaveLength(8);
    expect(hits.every((h) => Number(h.id) % 10 === 3)).toBe(true);
    // Forced through the index, one probe without an iterative scan sees one list: about 400 / 8 / 10 matches.
    const { table, distanceOperator, columnType } = storeLayout(profile);
    const single = await db.transaction(async (tx) => {
      await tx.exec('SET LOCAL ivfflat.probes = 1; SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off');
      const { rows } = await tx.query<{ id: string }>(
        `SELECT e.doc_id AS id FROM ${table} e JOIN public.articles s ON s.id = e.doc_id::int AND s.views = 3
         ORDER BY e.embedding ${distanceOperator} $1::${columnType} LIMIT 8`,
        [vectorLiteral(q)],
      );
      return rows;
    });
    expect(single.length).toBeLessThan(8);
  });
});
