import { describe, expect, it } from 'vitest';
import { overlapAtK, rankBiasedOverlap } from '../../src/eval/metrics.js';
import { compareResults } from '../../src/router/compare.js';

describe('result comparison', () => {
  it('overlap@k counts shared documents in the top k', () => {
    expect(overlapAtK(['a', 'b', 'c', 'd'], ['d', 'c', 'x', 'y'], 4)).toBe(0.5);
    expect(overlapAtK(['a', 'b'], ['b', 'a'], 2)).toBe(1);
    expect(overlapAtK(['a', 'b', 'c'], ['c', 'x', 'a'], 2)).toBe(0);
  });

  it('rank-biased overlap is 1 for identical lists, 0 for disjoint ones, and weights the top', () => {
    expect(rankBiasedOverlap(['a', 'b', 'c'], ['a', 'b', 'c'])).toBeCloseTo(1, 12);
    expect(rankBiasedOverlap(['a', 'b', 'c'], ['x', 'y', 'z'])).toBe(0);
    const topSwap = rankBiasedOverlap(['a', 'b', 'c', 'd'], ['b', 'a', 'c', 'd']);
    const bottomSwap = rankBiasedOverlap(['a', 'b', 'c', 'd'], ['a', 'b', 'd', 'c']);
    expect(topSwap).toBeLessThan(bottomSwap);
    expect(bottomSwap).toBeLessThan(1);
    // Hand-computed, p = 0.9, depth 2, lists [a, b] and [b, a]:
    // d=1: overlap 0 → 0; d=2: overlap 2 → (2/2)·0.81; sum = 0.81; RBO_ext = (0.1/0.9)·0.81 + 1·0.81 = 0.9
    expect(rankBiasedOverlap(['a', 'b'], ['b', 'a'])).toBeCloseTo(0.9, 12);
  });

  it('reports top-1 agreement and mean score deltas over shared documents', () => {
    const c = compareResults(
      [
        { id: 'a', score: 0.9 },
        { id: 'b', score: 0.8 },
      ],
      [
        { id: 'a', score: 0.7 },
        { id: 'c', score: 0.6 },
      ],
      2,
    );
    expect(c).toEqual({
      k: 2,
      overlap: 0.5,
      rbo: expect.any(Number),
      top1: true,
      meanScoreDelta: expect.closeTo(-0.2, 12),
    });
    expect(compareResults([], [], 10)).toMatchObject({ overlap: 0, top1: false, meanScoreDelta: null });
  });
});
