import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import {
  agreementAtK,
  checkAnn,
  samplePositions,
  sampleQueries,
  TIE_TOLERANCE,
  type AnnCheckReport,
} from '../../src/eval/ann-check.js';
import { buildIndex, indexName } from '../../src/store/index.js';
import { ensureStore } from '../../src/store/store.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { docId, fillStore } from './ann-fixture.js';

const manifest = buildManifest(
  {
    profiles: {
      easy: { provider: 'hash', dims: 32 },
      // The fixture's sparse graph (m 6, ef_construction 12) is this profile's configured index.
      hard: { provider: 'hash', dims: 64, index: { type: 'hnsw', m: 6, ef_construction: 12 } },
      tuned: { provider: 'hash', dims: 32, ef_search: 64 },
      bare: { provider: 'hash', dims: 16 },
      empty: { provider: 'hash', dims: 8 },
      nostore: { provider: 'hash', dims: 8 },
      huge: { provider: 'hash', dims: 4500 },
      flat: { provider: 'hash', dims: 8 },
    },
  },
  null,
);
const profile = (name: string) => getProfile(manifest, name);
const hits = (...pairs: Array<[string, number]>) => pairs.map(([id, score]) => ({ id, score }));

describe('agreementAtK', () => {
  it('is the share of the exact top k the approximate list finds', () => {
    const exact = hits(['a', 0.9], ['b', 0.8], ['c', 0.7], ['d', 0.6]);
    expect(agreementAtK(exact, exact, 4)).toBe(1);
    expect(agreementAtK(exact, hits(['a', 0.9], ['b', 0.8], ['x', 0.5], ['y', 0.4]), 4)).toBe(0.5);
    expect(agreementAtK(exact, hits(['d', 0.6], ['c', 0.7], ['b', 0.8], ['a', 0.9]), 4)).toBe(1); // order is not judged
    expect(agreementAtK(exact, [], 4)).toBe(0);
    // Only the top k of each list counts.
    expect(agreementAtK(exact, hits(['x', 0.1], ['a', 0.9]), 1)).toBe(0);
  });

  it('counts a document tied with the exact k-th (within the tolerance) as agreeing, and a duplicate once', () => {
    const exact = hits(['a', 0.9], ['b', 0.5]);
    expect(agreementAtK(exact, hits(['a', 0.9], ['z', 0.5]), 2)).toBe(1);
    expect(agreementAtK(exact, hits(['a', 0.9], ['z', 0.5 - TIE_TOLERANCE / 2]), 2)).toBe(1);
    expect(agreementAtK(exact, hits(['a', 0.9], ['z', 0.5 - 2 * TIE_TOLERANCE]), 2)).toBe(0.5);
    expect(agreementAtK(exact, hits(['a', 0.9], ['a', 0.9]), 2)).toBe(0.5);
  });

  it('divides by what exact search returned when the store holds fewer than k rows', () => {
    const exact = hits(['a', 0.9], ['b', 0.5]);
    expect(agreementAtK(exact, exact, 10)).toBe(1);
    expect(agreementAtK(exact, hits(['a', 0.9]), 10)).toBe(0.5);
    expect(agreementAtK([], [], 10)).toBe(1);
  });
});

describe('samplePositions', () => {
  it('draws distinct positions in range, the same for the same seed, ascending', () => {
    const a = samplePositions(1000, 50, 3);
    expect(a).toHaveLength(50);
    expect(new Set(a).size).toBe(50);
    expect(a.every((p) => Number.isInteger(p) && p >= 0 && p < 1000)).toBe(true);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(samplePositions(1000, 50, 3)).toEqual(a);
    expect(samplePositions(1000, 50, 4)).not.toEqual(a);
    expect(samplePositions(7, 50, 3)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(samplePositions(0, 5, 1)).toEqual([]);
  });
});

describe.each(BACKENDS)('checkAnn on %s', (backend) => {
  let db: Database;
  let easy: Float32Array[];
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    easy = await fillStore(db, profile('easy'), 300);
  });
  afterAll(() => db.close());

  it('samples stored vectors by seed, in byte order of doc_id, the same on every database', async () => {
    const { storeRows, queries } = await sampleQueries(db, profile('easy'), 20, 7);
    expect(storeRows).toBe(300);
    const positions = samplePositions(300, 20, 7);
    expect(queries.map((q) => q.docId)).toEqual(positions.map(docId));
    for (const [i, q] of queries.entries()) expect(q.vector).toEqual(easy[positions[i]!]);
    const other = await sampleQueries(db, profile('easy'), 20, 8);
    expect(other.queries.map((q) => q.docId)).not.toEqual(queries.map((q) => q.docId));
  });

  it('measures overlap@10 of the HNSW index with exact search; an easy store passes 0.95', async () => {
    const report = await checkAnn(db, profile('easy'));
    expect(report).toMatchObject({
      profile: 'easy',
      index: indexName(profile('easy')),
      storeRows: 300,
      k: 10,
      queries: 100,
      seed: 1,
      efSearch: 40,
      threshold: 0.95,
      usedIndex: true,
    });
    expect(report.overlap).toBeGreaterThanOrEqual(0.95);
    expect(report.overlap).toBeLessThanOrEqual(1);
    expect(report.minOverlap).toBeLessThanOrEqual(report.overlap);
    expect(report.ok).toBe(true);
    expect(typeof report.plannerUsesIndex).toBe('boolean');
    // Deterministic: the same seed gives the same queries and so the same figures.
    const again = await checkAnn(db, profile('easy'));
    expect({ ...again, seconds: 0 }).toEqual({ ...report, seconds: 0 });
  });

  it('fails under the threshold: no overlap reaches 1.01', async () => {
    const report = await checkAnn(db, profile('easy'), { threshold: 1.01, queries: 20 });
    expect(report.ok).toBe(false);
    expect(report.overlap).toBeLessThanOrEqual(1);
    expect(report.queries).toBe(20);
  });

  it('uses the profile’s ef_search, and raises any ef_search to k as searches do', async () => {
    await fillStore(db, profile('tuned'), 50, { seed: 2 });
    expect((await checkAnn(db, profile('tuned'), { queries: 5 })).efSearch).toBe(64);
    expect((await checkAnn(db, profile('tuned'), { queries: 5, efSearch: 5, k: 12 })).efSearch).toBe(12);
  });

  it('sees disagreement: a sparse graph at ef_search 10 misses neighbours, and the worst queries are named', async () => {
    await fillStore(db, profile('hard'), 600, { seed: 3, index: 'sparse' });
    const report: AnnCheckReport = await checkAnn(db, profile('hard'), { efSearch: 10, threshold: 0.999 });
    expect(report.usedIndex).toBe(true);
    expect(report.overlap).toBeLessThan(0.95);
    expect(report.overlap).toBeGreaterThan(0);
    expect(report.ok).toBe(false);
    expect(report.worst.length).toBeGreaterThan(0);
    expect(report.worst[0]!.overlap).toBe(report.minOverlap);
    expect(report.worst.map((w) => w.overlap)).toEqual([...report.worst.map((w) => w.overlap)].sort((a, b) => a - b));
    // With ef_search at least the store's size the graph search visits every row: exact.
    const full = await checkAnn(db, profile('hard'), { efSearch: 600 });
    expect(full.overlap).toBe(1);
  });

  it('refuses clearly when there is nothing to measure', async () => {
    await ensureStore(db, profile('bare'));
    await expect(checkAnn(db, profile('bare'))).rejects.toMatchObject({
      code: 'ANN_INDEX_MISSING',
      exitCode: 1,
      message: expect.stringMatching(/has no HNSW index \(emb_bare_hnsw\).*reembed backfill --profile bare/),
    });
    await expect(checkAnn(db, profile('nostore'))).rejects.toMatchObject({ code: 'STORE_MISSING', exitCode: 1 });
    await ensureStore(db, profile('empty'));
    await buildIndex(db, profile('empty'));
    await expect(checkAnn(db, profile('empty'))).rejects.toMatchObject({ code: 'ANN_NO_VECTORS', exitCode: 1 });
    await expect(checkAnn(db, profile('huge'))).rejects.toMatchObject({ code: 'ANN_NOT_INDEXABLE', exitCode: 2 });
    await expect(checkAnn(db, profile('easy'), { threshold: -1 })).rejects.toMatchObject({ exitCode: 2 });
    await expect(checkAnn(db, profile('easy'), { efSearch: 2000 })).rejects.toMatchObject({
      code: 'INVALID_EF_SEARCH',
      exitCode: 2,
    });
    await expect(checkAnn(db, profile('easy'), { queries: 0 })).rejects.toMatchObject({ exitCode: 2 });
  });

  if (backend === 'pglite') {
    // A server builds CONCURRENTLY; marking an index INVALID by hand needs a superuser there.
    it('refuses an INVALID index', async () => {
      const p = profile('flat');
      await ensureStore(db, p);
      await buildIndex(db, p);
      await db.exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'reembed.${indexName(p)}'::regclass`);
      await expect(checkAnn(db, p)).rejects.toMatchObject({ code: 'ANN_INDEX_INVALID', exitCode: 1 });
    });
  }
});
