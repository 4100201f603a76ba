import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { ConfigError } from '../../src/errors.js';
import { agreementAtK, checkAnn } from '../../src/eval/ann-check.js';
import { chooseSearchValue, tuneIndex } from '../../src/eval/tune.js';
import { buildIndex, describeIndex, dropIndex, indexStatus, profileIndexes } from '../../src/store/index.js';
import { defaultLists, listImbalance } from '../../src/store/index-ivfflat.js';
import { searchExact, searchIndexed } from '../../src/store/search.js';
import type { Source } from '../../src/source/source.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { fillStore } from '../eval/ann-fixture.js';

/** The same store under different index settings: only the index differs, never the vectors. */
const manifest = buildManifest(
  {
    profiles: {
      ivf: { provider: 'hash', dims: 32, index: { type: 'ivfflat', lists: 8, probes: 8 } },
      ivf_auto: { provider: 'hash', dims: 32, index: { type: 'ivfflat' } },
    },
  },
  null,
);
const ivf = getProfile(manifest, 'ivf');
/** The `ivf` store under other settings (same name, so the same table and fingerprint rules). */
function variant(index: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Profile {
  return getProfile(
    buildManifest({ profiles: { ivf: { provider: 'hash', dims: 32, ...(index ? { index } : {}), ...extra } } }, null),
    'ivf',
  );
}
/** searchIndexed uses the source only for filters; these searches have none. */
const noSource = null as unknown as Source;
const ROWS = 1200;

describe('index settings', () => {
  it('defaults lists from the row count: rows / 1000 up to 1M rows, √rows above, at least 1', () => {
    expect(defaultLists(0)).toBe(1);
    expect(defaultLists(999)).toBe(1);
    expect(defaultLists(100_000)).toBe(100);
    expect(defaultLists(1_000_000)).toBe(1000);
    expect(defaultLists(4_000_000)).toBe(2000);
  });

  it('accepts both kinds, keeps the top-level ef_search for HNSW, and refuses mixed or out-of-range settings', () => {
    expect(variant({ type: 'hnsw', m: 24, ef_construction: 100, ef_search: 80 }).index).toEqual({
      type: 'hnsw',
      m: 24,
      ef_construction: 100,
      ef_search: 80,
    });
    expect(variant(undefined, { ef_search: 64 }).ef_search).toBe(64);
    expect(() => variant({ type: 'ivfflat', probes: 4 }, { ef_search: 64 })).toThrow(ConfigError);
    expect(() => variant({ type: 'ivfflat', probes: 4 }, { ef_search: 64 })).toThrow(/index.probes/);
    expect(() => variant({ type: 'hnsw', ef_search: 10 }, { ef_search: 64 })).toThrow(/set twice/);
    expect(() => variant({ type: 'ivfflat', lists: 0 })).toThrow(ConfigError);
    expect(() => variant({ type: 'ivfflat', ef_search: 4 })).toThrow(ConfigError);
    expect(() => variant({ type: 'hnsw', m: 32, ef_construction: 40 })).toThrow(/at least 2 × index.m/);
    expect(() => variant({ type: 'annoy' })).toThrow(/index.type must be one of: hnsw, ivfflat/);
  });

  it('leaves the fingerprint alone: the index is not part of the vectors', () => {
    const fingerprints = new Set(
      [
        undefined,
        { type: 'hnsw' },
        { type: 'hnsw', m: 8, ef_construction: 32, ef_search: 100 },
        { type: 'ivfflat' },
        { type: 'ivfflat', lists: 50, probes: 3 },
      ].map((index) => variant(index).fingerprint),
    );
    expect(fingerprints.size).toBe(1);
    expect([...fingerprints][0]).toBe(ivf.fingerprint);
    // A setting that is in the fingerprint still changes it (the check can fail).
    expect(variant({ type: 'ivfflat' }, { metric: 'l2' }).fingerprint).not.toBe(ivf.fingerprint);
  });
});

describe.each(BACKENDS)('IVFFlat index on %s', (backend) => {
  let db: Database;
  let vectors: Float32Array[];
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    vectors = await fillStore(db, ivf, ROWS, { seed: 7, index: 'none' });
  });
  afterAll(() => db.close());

  it('builds an ivfflat index with the configured lists, and a build again is a no-op', async () => {
    const built = await buildIndex(db, ivf, { maintenanceWorkMem: '64MB' });
    expect(built).toMatchObject({ search: 'ivfflat', index: 'emb_ivf_ivfflat', created: true, replaced: [] });
    expect(built.status).toMatchObject({ type: 'ivfflat', valid: true, current: true, options: { lists: 8 } });
    expect(await buildIndex(db, ivf)).toMatchObject({ created: false, index: 'emb_ivf_ivfflat' });
  });

  it('searches with probes: all lists probed is exact, one list of eight misses neighbours', async () => {
    const queries = vectors.slice(0, 40);
    const agreement = async (probes: number) => {
      let sum = 0;
      for (const q of queries) {
        const exact = await searchExact(db, ivf, q, 10);
        sum += agreementAtK(exact, await searchIndexed(db, noSource, ivf, q, 10, { searchValue: probes }), 10);
      }
      return sum / queries.length;
    };
    // The profile's probes (8 = lists) by default.
    const q = vectors[3]!;
    expect((await searchIndexed(db, noSource, ivf, q, 10)).map((h) => h.id)).toEqual(
      (await searchExact(db, ivf, q, 10)).map((h) => h.id),
    );
    expect(await agreement(8)).toBe(1);
    // Random 32-dim directions spread every neighbourhood over several lists.
    expect(await agreement(1)).toBeLessThan(0.95);
    await expect(searchIndexed(db, noSource, ivf, q, 10, { searchValue: 0 })).rejects.toMatchObject({
      code: 'INVALID_PROBES',
    });
  });

  it('while a change of kind waits for its rebuild, searches the old index at its kind’s default, not pgvector’s', async () => {
    // The manifest now says HNSW (default ef_search), but the store still has only the IVFFlat
    // index: without its own setting it would be searched at probes 1 (agreement < 0.95 above).
    const hnsw = variant(undefined);
    expect((await indexStatus(db, hnsw)).current).toBe(false);
    let sum = 0;
    const queries = vectors.slice(0, 40);
    for (const q of queries) {
      const exact = await searchExact(db, ivf, q, 10);
      sum += agreementAtK(exact, await searchIndexed(db, noSource, hnsw, q, 10), 10);
    }
    // reembed's IVFFlat default (10 probes) covers all 8 lists: the exact results.
    expect(sum / queries.length).toBe(1);
  });

  it('reads the list sizes through the index: every row in exactly one of the lists', async () => {
    const report = await describeIndex(db, ivf);
    const lists = report.lists!;
    expect(lists).toMatchObject({ lists: 8, found: 8, storeRows: ROWS, rowsCovered: ROWS, method: 'complete' });
    expect(lists.min).toBeGreaterThan(0);
    expect(lists.min).toBeLessThanOrEqual(lists.p50);
    expect(lists.p50).toBeLessThanOrEqual(lists.max);
    expect(lists.mean).toBeCloseTo(ROWS / 8, 6);
    expect(lists.cv).toBeGreaterThanOrEqual(0);
    // Not asked for (the facade's status for /metrics and GET /v1/status): not read.
    expect(await describeIndex(db, ivf, { listSizes: false })).toMatchObject({ type: 'ivfflat', lists: null });
    // A pool too small to reach every list says so.
    const sampled = await listImbalance(db, ivf, report.name, 8, { poolSize: 2 });
    expect(sampled.method).toBe('sampled');
    expect(sampled.found).toBeLessThanOrEqual(2);
    expect(sampled.rowsCovered).toBeLessThan(ROWS);
  });

  it('verify --ann measures the ivfflat index at the profile’s probes, and refuses ef_search', async () => {
    const full = await checkAnn(db, ivf, { queries: 30 });
    expect(full).toMatchObject({ kind: 'ivfflat', parameter: 'probes', value: 8, efSearch: null, usedIndex: true });
    expect(full.overlap).toBe(1);
    const one = await checkAnn(db, ivf, { queries: 30, probes: 1 });
    expect(one.value).toBe(1);
    expect(one.overlap).toBeLessThan(full.overlap);
    expect(one.ok).toBe(false);
    await expect(checkAnn(db, ivf, { efSearch: 40 })).rejects.toMatchObject({ code: 'INVALID_ANN_OPTION' });
  });

  it('tune sweeps probes and picks the smallest with recall@10 >= 0.995', async () => {
    const report = await tuneIndex(db, ivf, { queries: 40 });
    expect(report).toMatchObject({ kind: 'ivfflat', parameter: 'probes', current: 8, index: 'emb_ivf_ivfflat' });
    expect(report.rows.map((r) => r.value)).toEqual([1, 2, 4, 8, 12, 16, 32]);
    for (const r of report.rows) {
      expect(r.usedIndex).toBe(true);
      // Probing every list (8 or more) is exact.
      if (r.value >= 8) expect(r.recall).toBe(1);
    }
    expect(report.rows[0]!.recall).toBeLessThan(0.995);
    const expected = report.rows.find((r) => r.recall >= 0.995)!.value;
    expect(report.choice).toBe(expected);
    expect(chooseSearchValue(report.rows, { maxRecallLoss: 0.005 }, 'probes').value).toBe(report.choice);
    expect(report.reason).toMatch(new RegExp(`^probes ${expected} is the smallest value`));
    await expect(tuneIndex(db, ivf, { values: [0] })).rejects.toMatchObject({ code: 'INVALID_PROBES' });
  });

  it('defaults lists from the row count when the profile sets none', async () => {
    const auto = getProfile(manifest, 'ivf_auto');
    await fillStore(db, auto, 300, { seed: 2, index: 'none' });
    const built = await buildIndex(db, auto);
    expect(built.status).toMatchObject({ type: 'ivfflat', options: { lists: defaultLists(300) } });
    // More rows later do not make the index stale: a default that follows the row count rebuilds nothing.
    expect((await indexStatus(db, auto)).current).toBe(true);
  });

  it('rebuilds on a change of kind or build options, building the new index before dropping the old', async () => {
    const hnsw = variant(undefined);
    expect((await indexStatus(db, hnsw)).current).toBe(false);
    await expect(checkAnn(db, hnsw, { queries: 5 })).rejects.toMatchObject({ code: 'ANN_INDEX_STALE' });
    const toHnsw = await buildIndex(db, hnsw);
    expect(toHnsw).toMatchObject({
      search: 'hnsw',
      index: 'emb_ivf_hnsw',
      created: true,
      replaced: ['emb_ivf_ivfflat'],
    });
    expect((await profileIndexes(db, hnsw)).map((i) => i.name)).toEqual(['emb_ivf_hnsw']);

    // Same kind, other build options: built under the second name, then the first dropped.
    const sparse = variant({ type: 'hnsw', m: 8, ef_construction: 32 });
    const rebuilt = await buildIndex(db, sparse);
    expect(rebuilt).toMatchObject({ index: 'emb_ivf_hnsw_b', created: true, replaced: ['emb_ivf_hnsw'] });
    expect(rebuilt.status).toMatchObject({ type: 'hnsw', options: { m: 8, ef_construction: 32 }, current: true });

    // Back to ivfflat with other lists; every step kept one index and the same fingerprint.
    const four = variant({ type: 'ivfflat', lists: 4 });
    expect(four.fingerprint).toBe(ivf.fingerprint);
    const back = await buildIndex(db, four);
    expect(back).toMatchObject({ index: 'emb_ivf_ivfflat', replaced: ['emb_ivf_hnsw_b'] });
    expect((await profileIndexes(db, four)).map((i) => [i.type, i.options])).toEqual([['ivfflat', { lists: 4 }]]);
    const moreLists = variant({ type: 'ivfflat', lists: 6 });
    expect(await buildIndex(db, moreLists)).toMatchObject({
      index: 'emb_ivf_ivfflat_b',
      replaced: ['emb_ivf_ivfflat'],
    });
    expect(await dropIndex(db, moreLists)).toBe(true);
    expect(await profileIndexes(db, moreLists)).toEqual([]);
  });
});
