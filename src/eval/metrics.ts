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

/**
 * 1 when at least one relevant document is in the top k, else 0 (trec_eval's success@k); null
 * when nothing is relevant. Averaged, it is the share of queries a reranker over the top k could
 * still answer, which recall alone hides when a query has several relevant documents.
 */
export function containAtK(ranking: readonly string[], judged: Map<string, number>, k: number): number | null {
  if (relevantCount(judged) === 0) return null;
  return dedupe(ranking, k).some((id) => (judged.get(id) ?? 0) > 0) ? 1 : 0;
}

/** The figures `reembed eval` reports for one query (or, averaged, for a run). */
export interface RetrievalMetrics {
  recallAt1: number;
  recallAt5: number;
  recallAt10: number;
  recallAt50: number;
  mrrAt10: number;
  ndcgAt10: number;
  containAt50: number;
}

export const RETRIEVAL_METRICS = [
  'recallAt1',
  'recallAt5',
  'recallAt10',
  'recallAt50',
  'mrrAt10',
  'ndcgAt10',
  'containAt50',
] as const satisfies ReadonlyArray<keyof RetrievalMetrics>;

/** A metric as people write it (`recall@5`, `ndcg@10`, `mrr@10`, `contain@50`) and its key. */
export const METRIC_NAMES: Record<string, keyof RetrievalMetrics> = {
  'recall@1': 'recallAt1',
  'recall@5': 'recallAt5',
  'recall@10': 'recallAt10',
  'recall@50': 'recallAt50',
  'mrr@10': 'mrrAt10',
  'ndcg@10': 'ndcgAt10',
  'contain@50': 'containAt50',
};

function metricRecord(value: (metric: keyof RetrievalMetrics) => number): RetrievalMetrics {
  const record = {} as RetrievalMetrics;
  for (const m of RETRIEVAL_METRICS) record[m] = value(m);
  return record;
}

/** Every retrieval metric of one query; null when nothing is relevant for it. */
export function queryMetrics(ranking: readonly string[], judged: Map<string, number>): RetrievalMetrics | null {
  if (relevantCount(judged) === 0) return null;
  return {
    recallAt1: recallAtK(ranking, judged, 1)!,
    recallAt5: recallAtK(ranking, judged, 5)!,
    recallAt10: recallAtK(ranking, judged, 10)!,
    recallAt50: recallAtK(ranking, judged, 50)!,
    mrrAt10: mrrAtK(ranking, judged, 10)!,
    ndcgAt10: ndcgAtK(ranking, judged, 10)!,
    containAt50: containAtK(ranking, judged, 50)!,
  };
}

export interface RetrievalSummary extends RetrievalMetrics {
  /** Queries that had relevant documents and so entered the averages. */
  judgedQueries: number;
  /** Queries left out because nothing is relevant for them. */
  unjudgedQueries: number;
}

/**
 * Averages every retrieval metric over the judged queries, like `summarize`, and keeps the
 * per-query values (null for an unjudged query) for per-query comparisons between runs.
 */
export function evaluateRankings(
  rankings: Map<string, readonly string[]>,
  qrels: Qrels,
): { summary: RetrievalSummary; perQuery: Map<string, RetrievalMetrics | null> } {
  const perQuery = new Map<string, RetrievalMetrics | null>();
  const sums = metricRecord(() => 0);
  let judged = 0;
  for (const [queryId, ranking] of rankings) {
    const metrics = queryMetrics(ranking, qrels.get(queryId) ?? new Map<string, number>());
    perQuery.set(queryId, metrics);
    if (metrics === null) continue;
    judged++;
    for (const m of RETRIEVAL_METRICS) sums[m] += metrics[m];
  }
  const means = metricRecord((m) => (judged ? sums[m] / judged : 0));
  return { summary: { ...means, judgedQueries: judged, unjudgedQueries: rankings.size - judged }, perQuery };
}

/*
 * Agreement of two rankings without judgments: the offline comparison of profiles
 * (eval/compare.ts) and the router's shadow reads use the same functions, so offline and
 * online agreement figures mean the same thing.
 */

/** |top k of A ∩ top k of B| / k. */
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

/**
 * The mean cosine similarity of every pair of the vectors (the top 5 of a result list): near 1,
 * the results are near-duplicates of each other; lower, they are more diverse. Null for fewer
 * than two vectors; a zero vector counts as similarity 0.
 */
export function meanPairwiseCosine(vectors: readonly Float32Array[]): number | null {
  if (vectors.length < 2) return null;
  const norms = vectors.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < vectors.length; i++) {
    for (let j = i + 1; j < vectors.length; j++) {
      const a = vectors[i]!;
      const b = vectors[j]!;
      let dot = 0;
      for (let d = 0; d < Math.min(a.length, b.length); d++) dot += a[d]! * b[d]!;
      const denominator = norms[i]! * norms[j]!;
      sum += denominator > 0 ? dot / denominator : 0;
      pairs++;
    }
  }
  return sum / pairs;
}
