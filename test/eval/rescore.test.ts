import { describe, expect, it } from 'vitest';
import { candidatePool, exactScore } from '../../src/eval/rescore.js';

const v = (...xs: number[]) => Float32Array.from(xs);
const norm = (x: Float32Array) => x.reduce((s, a) => s + a * a, 0);

describe('exact rescoring in float64 (hand-computed)', () => {
  it('scores like searchExact: cosine similarity, inner product, negative L2 distance', () => {
    const q = v(1, 0);
    expect(exactScore('cosine', q, norm(q), v(1, 1))).toBeCloseTo(Math.SQRT1_2, 15);
    expect(exactScore('cosine', q, norm(q), v(-2, 0))).toBe(-1);
    expect(exactScore('ip', v(1, 2), 5, v(3, 4))).toBe(11);
    expect(exactScore('l2', v(0, 0), 0, v(3, 4))).toBe(-5);
  });

  it('clamps the cosine similarity to [-1, 1] as pgvector does', () => {
    const q = v(0.1, 0.2, 0.3);
    expect(exactScore('cosine', q, norm(q), q)).toBeLessThanOrEqual(1);
    expect(exactScore('cosine', q, norm(q), q)).toBeCloseTo(1, 12);
  });

  it('searches twice k candidates for a final top k', () => {
    expect(candidatePool(50)).toBe(100);
  });
});
