import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { chooseSearchValue, tuneIndex, type TuneProgress, type TuneRow } from '../../src/eval/tune.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { fillStore } from './ann-fixture.js';

function row(value: number, recall: number, p95Ms: number): TuneRow {
  return {
    value,
    recall,
    minRecall: recall,
    p50Ms: p95Ms / 2,
    p95Ms,
    meanMs: p95Ms / 2,
    usedIndex: true,
    plannerUsesIndex: true,
  };
}

describe('chooseSearchValue', () => {
  // Recall rises and latency grows with ef_search, as measured on real indexes.
  const rows = [row(200, 1, 4.0), row(10, 0.95, 0.5), row(64, 0.996, 1.2), row(40, 0.99, 0.9), row(100, 0.999, 2.0)];

  it('picks the smallest value with recall loss at most 0.5 points, whatever the order of the rows', () => {
    const choice = chooseSearchValue(rows, { maxRecallLoss: 0.005 });
    expect(choice.value).toBe(64);
    expect(choice.verdicts.map((v) => v.value)).toEqual([10, 40, 64, 100, 200]);
    expect(choice.verdicts.map((v) => v.qualifies)).toEqual([false, false, true, true, true]);
    expect(choice.reason).toMatch(/ef_search 64 is the smallest value with recall@k >= 0\.9950/);
  });

  it('accepts a recall exactly at the limit despite floating-point sums', () => {
    const recall = Array.from({ length: 200 }, (_, i): number => (i === 0 ? 0 : 1)).reduce((s, x) => s + x, 0) / 200;
    expect(chooseSearchValue([row(10, recall, 1)], { maxRecallLoss: 0.005 }).value).toBe(10);
    expect(chooseSearchValue([row(10, 0.9949, 1)], { maxRecallLoss: 0.005 }).value).toBeNull();
  });

  it('a p95 target excludes values that are too slow', () => {
    expect(chooseSearchValue(rows, { maxRecallLoss: 0.05, p95TargetMs: null }).value).toBe(10);
    // A recall loss of up to 2 points lets 40 qualify on recall; the target then decides.
    expect(chooseSearchValue(rows, { maxRecallLoss: 0.02, p95TargetMs: 1.0 }).value).toBe(40);
    expect(chooseSearchValue(rows, { maxRecallLoss: 0.02, p95TargetMs: 0.8 }).value).toBeNull();
    const choice = chooseSearchValue(rows, { maxRecallLoss: 0.005, p95TargetMs: 2.0 });
    expect(choice.value).toBe(64);
    expect(choice.verdicts.find((v) => v.value === 200)).toMatchObject({ recallOk: true, latencyOk: false });
  });

  it('chooses nothing, and says why, when no value qualifies', () => {
    const recall = chooseSearchValue(rows, { maxRecallLoss: 0 });
    expect(recall.value).toBe(200); // recall 1 meets a zero loss
    const low = chooseSearchValue(
      rows.filter((r) => r.value < 200),
      { maxRecallLoss: 0 },
    );
    expect(low.value).toBeNull();
    expect(low.reason).toMatch(/no value reaches recall@k 1\.0000 \(best 0\.9990 at ef_search 100\)/);
    const slow = chooseSearchValue(rows, { maxRecallLoss: 0.5, p95TargetMs: 0.1 });
    expect(slow.value).toBeNull();
    expect(slow.reason).toMatch(/no value has p95 within 0\.1 ms \(fastest p95 0\.500 ms\)/);
    const mixed = chooseSearchValue(rows, { maxRecallLoss: 0.005, p95TargetMs: 1.0 });
    expect(mixed.value).toBeNull();
    expect(mixed.reason).toMatch(/recall@k >= 0\.9950 \(64, 100, 200\) all have p95 over 1 ms/);
    expect(chooseSearchValue([], { maxRecallLoss: 0.005 })).toMatchObject({ value: null, verdicts: [] });
  });
});

// The sparse graph the fixture builds (m 6, ef_construction 12) is this profile's configured index.
const manifest = buildManifest(
  {
    profiles: {
      sparse: { provider: 'hash', dims: 64, ef_search: 20, index: { type: 'hnsw', m: 6, ef_construction: 12 } },
    },
  },
  null,
);
const sparse = getProfile(manifest, 'sparse');

describe.each(BACKENDS)('tuneIndex on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    // 600 random vectors under a sparse graph: ef_search 10-40 miss neighbours (recall@10
    // about 0.75-0.92), while at 600, the store's size, the search visits every row.
    await fillStore(db, sparse, 600, { seed: 5, index: 'sparse' });
  });
  afterAll(() => db.close());

  it('chooses the known answer: the smallest value at least the store size (600)', async () => {
    const events: TuneProgress[] = [];
    const report = await tuneIndex(db, sparse, {
      values: [600, 40, 10, 20, 1000],
      queries: 100,
      onProgress: (e) => events.push(e),
    });
    expect(report).toMatchObject({
      profile: 'sparse',
      index: 'emb_sparse_hnsw',
      storeRows: 600,
      k: 10,
      queries: 100,
      kind: 'hnsw',
      parameter: 'ef_search',
      current: 20,
      maxRecallLoss: 0.005,
      p95TargetMs: null,
      choice: 600,
    });
    expect(report.rows.map((r) => r.value)).toEqual([10, 20, 40, 600, 1000]);
    expect(report.exact.p50Ms).toBeGreaterThan(0);
    expect(report.exact.p95Ms).toBeGreaterThanOrEqual(report.exact.p50Ms);
    for (const r of report.rows) {
      expect(r.usedIndex).toBe(true);
      expect(r.recall).toBeGreaterThanOrEqual(0);
      expect(r.recall).toBeLessThanOrEqual(1);
      expect(r.p95Ms).toBeGreaterThanOrEqual(r.p50Ms);
      expect(r.qualifies).toBe(r.value >= 600);
    }
    expect(report.rows[2]!.recall).toBeLessThan(0.995);
    expect(report.rows[3]!.recall).toBeGreaterThanOrEqual(0.995);
    // The choice is the pure function's on the measured rows.
    expect(chooseSearchValue(report.rows, { maxRecallLoss: 0.005 }).value).toBe(report.choice);
    // Progress: every exact search, the warm-up at the largest value, then each value in order.
    expect(events.filter((e) => e.phase === 'exact')).toHaveLength(100);
    expect(events.find((e) => e.phase === 'warmup')).toEqual({ phase: 'warmup', parameter: 'ef_search', value: 1000 });
    expect(events.flatMap((e) => (e.phase === 'measured' ? [e.row.value] : []))).toEqual([10, 20, 40, 600, 1000]);
  });

  it('chooses nothing when no value meets an unreachable p95 target, and refuses values below k', async () => {
    const report = await tuneIndex(db, sparse, { values: [600], queries: 10, p95TargetMs: 1e-6 });
    expect(report.choice).toBeNull();
    expect(report.rows[0]).toMatchObject({ recallOk: true, latencyOk: false, qualifies: false });
    await expect(tuneIndex(db, sparse, { values: [5, 40] })).rejects.toMatchObject({
      code: 'INVALID_TUNE_OPTION',
      exitCode: 2,
    });
    await expect(tuneIndex(db, sparse, { values: [1001] })).rejects.toMatchObject({
      code: 'INVALID_EF_SEARCH',
      exitCode: 2,
    });
  });

  it('drops the default values below a larger k', async () => {
    const report = await tuneIndex(db, sparse, { k: 50, queries: 5 });
    expect(report.rows.map((r) => r.value)).toEqual([64, 100, 200, 400]);
  });
});
