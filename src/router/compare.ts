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

export function overlapAtK(a: readonly string[], b: readonly string[], k: number): number {
  if (k <= 0) return 0;
  const top = new Set(a.slice(0, k));
  let shared = 0;
  for (const id of new Set(b.slice(0, k))) if (top.has(id)) shared++;
  return shared / k;
}

/**
 * Extrapolated rank-biased overlap (RBO_ext, equation 32 of Webber, Moffat and Zobel), for
 * lists of equal depth: weights agreement at the top more than agreement further down.
 */
export function rankBiasedOverlap(a: readonly string[], b: readonly string[], p = 0.9): number {
  const depth = Math.min(a.length, b.length);
  if (depth === 0) return a.length === b.length ? 1 : 0;
  const seenA = new Set<string>();
  const seenB = new Set<string>();
  let overlap = 0;
  let sum = 0;
  for (let d = 1; d <= depth; d++) {
    const x = a[d - 1]!;
    const y = b[d - 1]!;
    if (x === y) overlap++;
    else {
      if (seenB.has(x)) overlap++;
      if (seenA.has(y)) overlap++;
    }
    seenA.add(x);
    seenB.add(y);
    sum += (overlap / d) * p ** d;
  }
  return ((1 - p) / p) * sum + (overlap / depth) * p ** depth;
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
