/**
 * Retrieval metrics with the conventions of trec_eval / pytrec_eval (which BEIR reports):
 * relevance grades are non-negative integers and a grade > 0 is relevant; nDCG uses linear
 * gain (grade / log2(rank + 1)); a document repeated in a ranking counts at its first rank
 * only; queries without any relevant document are left out of the averages (and counted).
 */
export type Qrels = Map<string, Map<string, number>>;

function dedupe(ranking: readonly string[], k: number): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of ranking) {
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(id);
    if (out.length === k) break;
  }
  return out;
}

function relevantCount(judged: Map<string, number>): number {
  let n = 0;
  for (const grade of judged.values()) if (grade > 0) n++;
  return n;
}

/** Share of the relevant documents found in the top k; null when nothing is relevant. */
export function recallAtK(ranking: readonly string[], judged: Map<string, number>, k: number): number | null {
  const total = relevantCount(judged);
  if (total === 0) return null;
  const hits = dedupe(ranking, k).filter((id) => (judged.get(id) ?? 0) > 0).length;
  return hits / total;
}

/** Normalized discounted cumulative gain at k; null when nothing is relevant. */
export function ndcgAtK(ranking: readonly string[], judged: Map<string, number>, k: number): number | null {
  if (relevantCount(judged) === 0) return null;
  const dcg = dedupe(ranking, k).reduce((sum, id, i) => sum + Math.max(0, judged.get(id) ?? 0) / Math.log2(i + 2), 0);
  const ideal = [...judged.values()]
    .filter((g) => g > 0)
    .sort((a, b) => b - a)
    .slice(0, k)
    .reduce((sum, g, i) => sum + g / Math.log2(i + 2), 0);
  return dcg / ideal;
}

/** Reciprocal rank of the first relevant document within k (0 when none); null when nothing is relevant. */
export function mrrAtK(ranking: readonly string[], judged: Map<string, number>, k: number): number | null {
  if (relevantCount(judged) === 0) return null;
  const rank = dedupe(ranking, k).findIndex((id) => (judged.get(id) ?? 0) > 0);
  return rank < 0 ? 0 : 1 / (rank + 1);
}

export interface MetricSummary {
  recallAt10: number;
  ndcgAt10: number;
  mrrAt10: number;
  /** Queries that had relevant documents and so entered the averages. */
  judgedQueries: number;
  /** Queries left out because nothing is relevant for them. */
  unjudgedQueries: number;
}

/** Averages the per-query metrics over the judged queries. */
export function summarize(rankings: Map<string, readonly string[]>, qrels: Qrels): MetricSummary {
  const sums = { recall: 0, ndcg: 0, mrr: 0 };
  let judged = 0;
  let unjudged = 0;
  for (const [queryId, ranking] of rankings) {
    const rels = qrels.get(queryId) ?? new Map<string, number>();
    const recall = recallAtK(ranking, rels, 10);
    if (recall === null) {
      unjudged++;
      continue;
    }
    judged++;
    sums.recall += recall;
    sums.ndcg += ndcgAtK(ranking, rels, 10)!;
    sums.mrr += mrrAtK(ranking, rels, 10)!;
  }
  const mean = (x: number) => (judged ? x / judged : 0);
  return {
    recallAt10: mean(sums.recall),
    ndcgAt10: mean(sums.ndcg),
    mrrAt10: mean(sums.mrr),
    judgedQueries: judged,
    unjudgedQueries: unjudged,
  };
}
