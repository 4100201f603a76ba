import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import { DEMO_MANIFEST } from '../../src/demo/demo.js';
import type { Database } from '../../src/db/database.js';
import { readBeirDataset } from '../../src/eval/beir.js';
import {
  breakdown,
  MAX_CATEGORIES,
  NO_CATEGORY,
  OTHER_CATEGORY,
  parseCategoryPath,
  queryCategories,
} from '../../src/eval/breakdown.js';
import type { Qrels, RetrievalMetrics } from '../../src/eval/metrics.js';
import { runEval } from '../../src/eval/run.js';
import { ConfigError } from '../../src/errors.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { tinyCorpusWithCategories, writeTinyDataset } from './fixture.js';

const manifest = buildManifest(DEMO_MANIFEST, null);
const small = getProfile(manifest, 'hash_small');
const large = getProfile(manifest, 'hash_large');

function metrics(ndcg: number): RetrievalMetrics {
  return {
    recallAt1: ndcg,
    recallAt5: ndcg,
    recallAt10: ndcg,
    recallAt50: ndcg,
    mrrAt10: ndcg,
    ndcgAt10: ndcg,
    containAt50: ndcg,
  };
}

describe('the per-category breakdown', () => {
  it('reads metadata.x and x as the same field and refuses anything else', () => {
    expect(parseCategoryPath('metadata.category')).toEqual(['category']);
    expect(parseCategoryPath('category')).toEqual(['category']);
    expect(parseCategoryPath('metadata.source.kind')).toEqual(['source', 'kind']);
    for (const bad of ['', 'metadata', 'metadata.', 'a..b', "x'; drop", 'a b'])
      expect(() => parseCategoryPath(bad), bad).toThrow(ConfigError);
  });

  it('gives a query the categories of its relevant documents, (none) when they have none', () => {
    const qrels: Qrels = new Map([
      ['q1', new Map([['a', 1]])],
      [
        'q2',
        new Map([
          ['a', 1],
          ['b', 2],
          ['c', 0],
        ]),
      ],
      ['q3', new Map([['c', 1]])],
      ['q4', new Map([['b', 0]])],
    ]);
    const cats = queryCategories(
      qrels,
      new Map([
        ['a', 'x'],
        ['b', 'y'],
        ['c', 'z'],
      ]),
    );
    expect(cats.get('q1')).toEqual(['x']);
    expect(cats.get('q2')).toEqual(['x', 'y']); // c is judged 0: not relevant, not its category
    expect(cats.get('q3')).toEqual(['z']);
    expect(cats.get('q4')).toEqual([NO_CATEGORY]);
  });

  it('folds categories beyond the largest MAX_CATEGORIES into (other)', () => {
    const qrels: Qrels = new Map();
    const categoryOf = new Map<string, string>();
    for (let i = 0; i < MAX_CATEGORIES + 5; i++) {
      qrels.set(`q${i}`, new Map([[`d${i}`, 1]]));
      categoryOf.set(`d${i}`, `c${String(i).padStart(3, '0')}`);
    }
    // c000 gets a second document, so it is certainly among the kept ones.
    categoryOf.set('extra', 'c000');
    const cats = queryCategories(qrels, categoryOf);
    const values = new Set([...cats.values()].flat());
    expect(values.size).toBe(MAX_CATEGORIES + 1);
    expect(values.has(OTHER_CATEGORY)).toBe(true);
    expect(cats.get('q0')).toEqual(['c000']);
  });

  it('averages per category, counting a query in each of its categories and leaving unjudged ones out', () => {
    const perQuery = new Map<string, RetrievalMetrics | null>([
      ['q1', metrics(1)],
      ['q2', metrics(0.5)],
      ['q3', metrics(0)],
      ['q4', null],
    ]);
    const cats = new Map([
      ['q1', ['x']],
      ['q2', ['x', 'y']],
      ['q3', ['y']],
      ['q4', ['y']],
    ]);
    const out = breakdown(perQuery, cats);
    expect(out.map((c) => [c.category, c.queries])).toEqual([
      ['x', 2],
      ['y', 2],
    ]);
    expect(out[0]!.metrics.ndcgAt10).toBeCloseTo(0.75, 12);
    expect(out[1]!.metrics.ndcgAt10).toBeCloseTo(0.25, 12);
    expect(out[1]!.metrics.unjudgedQueries).toBe(1);
  });
});

describe.each(BACKENDS)('eval --by metadata.category on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
  });
  afterAll(() => db.close());

  it('reports every metric per category, each query by its relevant documents', async () => {
    const dataset = await readBeirDataset(writeTinyDataset({ corpus: tinyCorpusWithCategories() }));
    const { report, rankings } = await runEval(dataset, { profiles: [small, large], db, by: 'metadata.category' });
    // The quality signals ride along: the mean top-1 score is that of the exact rankings.
    for (const p of report.profiles) {
      const tops = [...rankings.get(p.profile)!.exact.values()].map((hits) => hits[0]!.score);
      expect(p.quality.top1Score).toBeCloseTo(tops.reduce((a, b) => a + b, 0) / tops.length, 9);
      expect(p.quality.top5PairwiseCosine).toBeGreaterThan(-1);
      expect(p.quality.top5PairwiseCosine).toBeLessThan(1);
    }
    // q1 → fruit, q2 → music and drums, q3 → metal, q4 (its document is not in the corpus) → (none);
    // q5 is unjudged; d4 (space) is relevant to no query.
    expect(report.by).toEqual({ field: 'metadata.category', categories: 5 });
    for (const p of report.profiles) {
      const byName = new Map(p.byCategory!.map((c) => [c.category, c]));
      expect([...byName.keys()].sort()).toEqual([NO_CATEGORY, 'drums', 'fruit', 'metal', 'music'].sort());
      expect(byName.get('fruit')!.metrics).toMatchObject({ recallAt1: 1, mrrAt10: 1, ndcgAt10: 1, judgedQueries: 1 });
      // q2: d3 (grade 2) first, d6 second: the same figures in both of its categories.
      for (const c of ['music', 'drums'])
        expect(byName.get(c)!.metrics, c).toMatchObject({ recallAt1: 0.5, recallAt5: 1, mrrAt10: 1, ndcgAt10: 1 });
      expect(byName.get('metal')!.metrics).toMatchObject({ recallAt1: 0, recallAt5: 1, mrrAt10: 0.5 });
      expect(byName.get('metal')!.metrics.ndcgAt10).toBeCloseTo(1 / Math.log2(3), 12);
      expect(byName.get(NO_CATEGORY)!.metrics).toMatchObject({
        recallAt5: 0,
        ndcgAt10: 0,
        judgedQueries: 1,
        unjudgedQueries: 1,
      });
    }
  });

  it('refuses a malformed field before touching the database', async () => {
    const dataset = await readBeirDataset(writeTinyDataset());
    await expect(runEval(dataset, { profiles: [small], db, by: 'metadata.a b' })).rejects.toThrow(ConfigError);
  });
});
