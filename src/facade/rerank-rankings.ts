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
import { createReranker, type Reranker } from '../router/rerank-stage.js';
import { summarizeLatency } from '../eval/latency.js';
import { profileForCorpus } from '../eval/prepare.js';
import type { RerankEvaluation } from '../eval/report.js';
import { resolveSource } from '../source/source.js';
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

/**
 * `reembed eval` for the profiles with a rerank stage: their exact rankings (top `top_n`) reranked
 * in the evaluation database, scored before and after; the reranked rankings for the run files.
 */
export async function evaluateRerank(
  db: Queryable,
  profiles: readonly Profile[],
  dataset: { queries: ReadonlyArray<{ id: string; text: string }>; qrels: Qrels },
  rankings: Map<string, { exact: Rankings }>,
): Promise<Map<string, { evaluation: RerankEvaluation; off: Rankings; on: Rankings }>> {
  const out = new Map<string, { evaluation: RerankEvaluation; off: Rankings; on: Rankings }>();
  const staged = profiles.filter((p) => p.rerank);
  if (staged.length === 0) return out;
  const source = await resolveSource(db, { managed: true, text: '{content}' });
  for (const profile of staged) {
    const settings = profile.rerank!;
    const reranker = await createReranker(profile.name, settings);
    const exact = rankings.get(profile.name)!.exact;
    const before: Rankings = new Map([...exact].map(([q, hits]) => [q, hits.slice(0, settings.top_n)]));
    const candidates = await rankedCandidates(db, source, profileForCorpus(profile).profile, before);
    const after = await rerankAll(reranker, dataset.queries, candidates);
    const { before: b, after: a, lift } = compareRerank(before, after.rankings, dataset.qrels);
    out.set(profile.name, {
      evaluation: {
        provider: settings.provider,
        topN: settings.top_n,
        before: b,
        after: a,
        lift,
        latency: summarizeLatency(after.ms),
      },
      off: before,
      on: after.rankings,
    });
  }
  return out;
}
