import { describe, expect, it } from 'vitest';
import { mrrAtK, ndcgAtK, recallAtK, summarize } from '../../src/eval/metrics.js';

const rel = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe('retrieval metrics (hand-computed)', () => {
  it('recall@k counts relevant documents found, graded or not', () => {
    const judged = rel({ a: 1, b: 2, c: 1, z: 0 });
    expect(recallAtK(['a', 'x', 'b', 'y'], judged, 10)).toBeCloseTo(2 / 3, 12);
    expect(recallAtK(['x', 'y', 'a'], judged, 2)).toBe(0);
    expect(recallAtK(['z'], judged, 10)).toBe(0); // grade 0 is judged non-relevant
  });

  it('ndcg@k uses linear gain and the ideal ordering of the grades', () => {
    const judged = rel({ a: 2, b: 1 });
    // ranking b, a: DCG = 1/log2(2) + 2/log2(3); IDCG = 2/log2(2) + 1/log2(3)
    const expected = (1 + 2 / Math.log2(3)) / (2 + 1 / Math.log2(3));
    expect(ndcgAtK(['b', 'a'], judged, 10)).toBeCloseTo(expected, 12);
    expect(ndcgAtK(['a', 'b'], judged, 10)).toBeCloseTo(1, 12);
    // cut at 1: DCG = 1, IDCG = 2
    expect(ndcgAtK(['b', 'a'], judged, 1)).toBeCloseTo(0.5, 12);
  });

  it('counts a duplicated document once, at its first rank', () => {
    const judged = rel({ a: 1, b: 1 });
    expect(recallAtK(['a', 'a', 'a'], judged, 2)).toBe(0.5);
    // a at rank 1, b at rank 2 after removing the duplicate
    expect(ndcgAtK(['a', 'a', 'b'], judged, 2)).toBeCloseTo(1, 12);
    expect(mrrAtK(['x', 'x', 'b'], judged, 2)).toBe(0.5);
  });

  it('handles ties in grades and reciprocal rank', () => {
    const judged = rel({ a: 1, b: 1, c: 1 });
    expect(ndcgAtK(['c', 'b', 'a'], judged, 3)).toBeCloseTo(1, 12);
    expect(mrrAtK(['x', 'y', 'b'], judged, 10)).toBeCloseTo(1 / 3, 12);
    expect(mrrAtK(['x', 'y', 'b'], judged, 2)).toBe(0);
  });

  it('returns null for a query without relevant documents and leaves it out of the averages', () => {
    expect(recallAtK(['a'], rel({ a: 0 }), 10)).toBeNull();
    expect(ndcgAtK(['a'], rel({}), 10)).toBeNull();
    const s = summarize(
      new Map([
        ['q1', ['a', 'b']],
        ['q2', ['c']],
        ['q3', ['x']],
      ]),
      new Map([
        ['q1', rel({ b: 1 })],
        ['q2', rel({ d: 1 })],
        ['q3', rel({ x: 0 })],
      ]),
    );
    expect(s).toEqual({
      recallAt10: 0.5,
      ndcgAt10: expect.closeTo(1 / Math.log2(3) / 2, 12),
      mrrAt10: 0.25,
      judgedQueries: 2,
      unjudgedQueries: 1,
    });
  });
});
