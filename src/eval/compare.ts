import { overlapAtK, rankBiasedOverlap, type RetrievalMetrics } from './metrics.js';
import type { Rankings } from './trec.js';

/** How a candidate profile's results differ from a control's over the queries of one evaluation. */
export interface ProfileComparison {
  control: string;
  candidate: string;
  /** Depth of overlap and RBO: the same k as the shadow reads' comparison. */
  k: number;
  /** Mean over all evaluated queries of |top k of A ∩ top k of B| / k. */
  meanOverlap: number;
  /** Mean extrapolated rank-biased overlap (p = 0.9) of the two top-k lists. */
  meanRbo: number;
  /** Per judged query, the candidate's nDCG@10 against the control's. */
  ndcgAt10: { wins: number; losses: number; ties: number; meanDelta: number };
}

/**
 * Equal within float summation noise: two rankings that place relevant documents at the same
 * ranks get the same nDCG, but a sum taken in another order may differ in the last bit.
 */
const TIE = 1e-12;

/**
 * Compares two profiles' rankings of the same queries. Overlap and RBO need no judgments, so
 * they average over every query; wins and losses only over queries with relevant documents.
 * Overlap and RBO are the functions the router's shadow reads use, so offline and online
 * agreement figures mean the same thing.
 */
export function compareProfiles(
  control: { name: string; rankings: Rankings; perQuery: Map<string, RetrievalMetrics | null> },
  candidate: { name: string; rankings: Rankings; perQuery: Map<string, RetrievalMetrics | null> },
  k = 10,
): ProfileComparison {
  let overlap = 0;
  let rbo = 0;
  let compared = 0;
  for (const [queryId, hitsA] of control.rankings) {
    const hitsB = candidate.rankings.get(queryId);
    if (!hitsB) continue;
    const a = hitsA.slice(0, k).map((h) => h.id);
    const b = hitsB.slice(0, k).map((h) => h.id);
    overlap += overlapAtK(a, b, k);
    rbo += rankBiasedOverlap(a, b);
    compared++;
  }
  const ndcg = { wins: 0, losses: 0, ties: 0, meanDelta: 0 };
  let deltaSum = 0;
  for (const [queryId, metricsA] of control.perQuery) {
    const metricsB = candidate.perQuery.get(queryId);
    if (!metricsA || !metricsB) continue;
    const delta = metricsB.ndcgAt10 - metricsA.ndcgAt10;
    if (delta > TIE) ndcg.wins++;
    else if (delta < -TIE) ndcg.losses++;
    else ndcg.ties++;
    deltaSum += delta;
  }
  const judged = ndcg.wins + ndcg.losses + ndcg.ties;
  ndcg.meanDelta = judged ? deltaSum / judged : 0;
  return {
    control: control.name,
    candidate: candidate.name,
    k,
    meanOverlap: compared ? overlap / compared : 0,
    meanRbo: compared ? rbo / compared : 0,
    ndcgAt10: ndcg,
  };
}
