import { describe, expect, it } from 'vitest';
import { compareProfiles } from '../../src/eval/compare.js';
import { percentile, summarizeLatency } from '../../src/eval/latency.js';
import { containAtK, evaluateRankings, queryMetrics, type RetrievalMetrics } from '../../src/eval/metrics.js';
import type { Rankings } from '../../src/eval/trec.js';

const rel = (entries: Record<string, number>) => new Map(Object.entries(entries));
const hits = (...ids: string[]) => ids.map((id, i) => ({ id, score: 1 - i / 100 }));

describe('Contain@k (hand-computed)', () => {
  it('is 1 when any relevant document is in the top k, else 0', () => {
    const judged = rel({ a: 1, b: 2, z: 0 });
    expect(containAtK(['x', 'y', 'b'], judged, 3)).toBe(1);
    expect(containAtK(['x', 'y', 'b'], judged, 2)).toBe(0);
    expect(containAtK(['z', 'x'], judged, 50)).toBe(0); // grade 0 is judged non-relevant
    // a duplicate does not push a relevant document out of the cut
    expect(containAtK(['x', 'x', 'x', 'a'], judged, 2)).toBe(1);
  });

  it('is null without relevant documents', () => {
    expect(containAtK(['a'], rel({ a: 0 }), 50)).toBeNull();
    expect(containAtK([], rel({}), 50)).toBeNull();
  });

  it('differs from recall when a query has several relevant documents', () => {
    const judged = rel({ a: 1, b: 1, c: 1, d: 1 });
    const ranking = ['a', ...Array.from({ length: 60 }, (_, i) => `n${i}`), 'b'];
    const m = queryMetrics(ranking, judged)!;
    expect(m.containAt50).toBe(1);
    expect(m.recallAt50).toBe(0.25);
  });
});

describe('queryMetrics and evaluateRankings (hand-computed)', () => {
  it('computes every cut of one query', () => {
    // relevant: a (grade 2) at rank 3, b (grade 1) at rank 7; c (grade 1) not retrieved
    const judged = rel({ a: 2, b: 1, c: 1, x: 0 });
    const ranking = ['x', 'y', 'a', 'p', 'q', 'r', 'b'];
    const dcg = 2 / Math.log2(4) + 1 / Math.log2(8);
    const idcg = 2 / Math.log2(2) + 1 / Math.log2(3) + 1 / Math.log2(4);
    expect(queryMetrics(ranking, judged)).toEqual({
      recallAt1: 0,
      recallAt5: 1 / 3,
      recallAt10: 2 / 3,
      recallAt50: 2 / 3,
      mrrAt10: 1 / 3,
      ndcgAt10: expect.closeTo(dcg / idcg, 12),
      containAt50: 1,
    });
  });

  it('averages over judged queries only and keeps per-query values', () => {
    const { summary, perQuery } = evaluateRankings(
      new Map([
        ['q1', ['a', 'b']], // a relevant at rank 1
        ['q2', ['x', 'c']], // c relevant at rank 2
        ['q3', ['x']], // nothing relevant judged: left out
        ['q4', ['y']], // its relevant document is never retrieved
      ]),
      new Map([
        ['q1', rel({ a: 1 })],
        ['q2', rel({ c: 1 })],
        ['q3', rel({ x: 0 })],
        ['q4', rel({ gone: 1 })],
      ]),
    );
    expect(summary).toEqual({
      recallAt1: 1 / 3,
      recallAt5: 2 / 3,
      recallAt10: 2 / 3,
      recallAt50: 2 / 3,
      mrrAt10: (1 + 0.5 + 0) / 3,
      ndcgAt10: expect.closeTo((1 + 1 / Math.log2(3) + 0) / 3, 12),
      containAt50: 2 / 3,
      judgedQueries: 3,
      unjudgedQueries: 1,
    });
    expect(perQuery.get('q3')).toBeNull();
    expect(perQuery.get('q2')?.mrrAt10).toBe(0.5);
  });

  it('a query missing from the qrels is unjudged', () => {
    const { summary } = evaluateRankings(new Map([['q', ['a']]]), new Map());
    expect(summary).toMatchObject({ judgedQueries: 0, unjudgedQueries: 1, ndcgAt10: 0 });
  });
});

describe('latency percentiles', () => {
  it('uses the nearest rank: always an observed sample', () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]; // 1..10
    expect(percentile(samples, 50)).toBe(5); // ceil(0.5 * 10) = 5th smallest
    expect(percentile(samples, 95)).toBe(10); // ceil(9.5) = 10th
    expect(percentile(samples, 90)).toBe(9);
    expect(percentile(samples, 100)).toBe(10);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([], 95)).toBe(0);
    expect(() => percentile([1], 0)).toThrow(RangeError);
  });

  it('summarizes p50, p95, mean and max', () => {
    const samples = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20
    expect(summarizeLatency(samples)).toEqual({ p50Ms: 10, p95Ms: 19, meanMs: 10.5, maxMs: 20 });
  });
});

describe('comparing two profiles', () => {
  const metrics = (ndcgAt10: number): RetrievalMetrics => ({
    recallAt1: 0,
    recallAt5: 0,
    recallAt10: 0,
    recallAt50: 0,
    mrrAt10: 0,
    ndcgAt10,
    containAt50: 0,
  });

  it('averages overlap@10 and RBO over all queries and counts nDCG@10 wins, losses and ties', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `d${i}`);
    const a: Rankings = new Map([
      ['q1', hits(...ten)],
      ['q2', hits(...ten)],
    ]);
    // q1: the same list (overlap 1, RBO 1); q2: five shared documents, none at the same rank
    const b: Rankings = new Map([
      ['q1', hits(...ten)],
      ['q2', hits('n0', 'n1', 'n2', 'n3', 'n4', 'd0', 'd1', 'd2', 'd3', 'd4')],
    ]);
    const c = compareProfiles(
      {
        name: 'A',
        rankings: a,
        perQuery: new Map([
          ['q1', metrics(0.5)],
          ['q2', metrics(0.5)],
          ['q3', metrics(0.2)],
          ['q4', null],
        ]),
      },
      {
        name: 'B',
        rankings: b,
        perQuery: new Map([
          ['q1', metrics(0.5)],
          ['q2', metrics(0.8)],
          ['q3', metrics(0.1)],
          ['q4', null],
        ]),
      },
    );
    expect(c.meanOverlap).toBeCloseTo((1 + 0.5) / 2, 12);
    // q2 by hand: overlap at depth d is 0 for d ≤ 5, then d - 5 (d0..d4 were seen in A at 1..5)
    const p = 0.9;
    let sum = 0;
    for (let d = 6; d <= 10; d++) sum += ((d - 5) / d) * p ** d;
    const rboQ2 = ((1 - p) / p) * sum + (5 / 10) * p ** 10;
    expect(c.meanRbo).toBeCloseTo((1 + rboQ2) / 2, 12);
    expect(c.ndcgAt10).toEqual({ wins: 1, losses: 1, ties: 1, meanDelta: expect.closeTo((0 + 0.3 - 0.1) / 3, 12) });
    expect(c).toMatchObject({ control: 'A', candidate: 'B', k: 10 });
  });
});
