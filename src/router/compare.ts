import { overlapAtK, rankBiasedOverlap } from '../eval/metrics.js';

/**
 * How much two ranked result lists agree, for shadow reads. All take the control's list
 * first and the other's second, and are symmetric except the score deltas.
 */
export interface Comparison {
  k: number;
  /** |A ∩ B| / k over the top k. */
  overlap: number;
  /** Rank-biased overlap (Webber et al. 2010), extrapolated, with persistence p. */
  rbo: number;
  /** Both lists start with the same document. */
  top1: boolean;
  /** Mean of (score in B − score in A) over documents in both lists; null when none is shared. */
  meanScoreDelta: number | null;
}

export function compareResults(
  a: ReadonlyArray<{ id: string; score: number }>,
  b: ReadonlyArray<{ id: string; score: number }>,
  k: number,
): Comparison {
  const idsA = a.slice(0, k).map((h) => h.id);
  const idsB = b.slice(0, k).map((h) => h.id);
  const scoresA = new Map(a.map((h) => [h.id, h.score]));
  const deltas = b.filter((h) => scoresA.has(h.id)).map((h) => h.score - scoresA.get(h.id)!);
  return {
    k,
    overlap: overlapAtK(idsA, idsB, k),
    rbo: rankBiasedOverlap(idsA, idsB),
    top1: idsA.length > 0 && idsA[0] === idsB[0],
    meanScoreDelta: deltas.length ? deltas.reduce((s, d) => s + d, 0) / deltas.length : null,
  };
}
