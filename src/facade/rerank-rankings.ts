/**
 * Reranking whole evaluation rankings offline, as the serving path's stage would: the
 * candidates' rendered text from the evaluation database, the profile's reranker, and scores
 * that keep the reranked order in a TREC run file (trec_eval orders by score).
 */
import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { evaluateRankings, RETRIEVAL_METRICS, type RetrievalMetrics, type RetrievalSummary } from '../eval/metrics.js';
import type { Qrels } from '../eval/metrics.js';
import type { Rankings } from '../eval/trec.js';
import type { RerankCandidate } from '../router/rerank-features.js';
import type { Reranker } from '../router/rerank-stage.js';
import { renderedTexts } from '../source/rendered-text.js';
import type { Source } from '../source/source.js';

/** The candidates of every ranked query, with their text. */
export async function rankedCandidates(
  db: Queryable,
  source: Source,
  profile: Pick<Profile, 'template'>,
  rankings: Rankings,
): Promise<Map<string, RerankCandidate[]>> {
  const ids = [...new Set([...rankings.values()].flatMap((hits) => hits.map((h) => h.id)))];
  const texts = await renderedTexts(db, source, profile.template!, ids);
  return new Map(
    [...rankings].map(([q, hits]) => [q, hits.map((h) => ({ id: h.id, score: h.score, text: texts.get(h.id) ?? '' }))]),
  );
}

/**
 * Every query's candidates in the reranker's order, scored (n - rank) / n so that the order is
 * the score order; with the time each rerank took.
 */
export async function rerankAll(
  reranker: Reranker,
  queries: ReadonlyArray<{ id: string; text: string }>,
  candidates: Map<string, RerankCandidate[]>,
): Promise<{ rankings: Rankings; ms: number[] }> {
  const rankings: Rankings = new Map();
  const ms: number[] = [];
  for (const q of queries) {
    const cands = candidates.get(q.id);
    if (!cands) continue;
    const t0 = performance.now();
    const order = await reranker.rerank(q.text, cands);
    ms.push(performance.now() - t0);
    const n = order.length;
    rankings.set(
      q.id,
      order.map((i, rank) => ({ id: cands[i]!.id, score: (n - rank) / n })),
    );
  }
  return { rankings, ms };
}

export function idsOf(rankings: Rankings): Map<string, string[]> {
  return new Map([...rankings].map(([q, hits]) => [q, hits.map((h) => h.id)]));
}

/** Metrics before and after the rerank, and the lift (after − before) of each. */
export interface RerankComparison {
  before: RetrievalSummary;
  after: RetrievalSummary;
  lift: RetrievalMetrics;
}

export function compareRerank(before: Rankings, after: Rankings, qrels: Qrels): RerankComparison {
  const b = evaluateRankings(idsOf(before), qrels).summary;
  const a = evaluateRankings(idsOf(after), qrels).summary;
  const lift = Object.fromEntries(RETRIEVAL_METRICS.map((m) => [m, a[m] - b[m]])) as unknown as RetrievalMetrics;
  return { before: b, after: a, lift };
}
