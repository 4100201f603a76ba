/**
 * The features of a retrieval candidate that the built-in `features` reranker scores, computed
 * from what the retrieval already has (scores, ranks, the candidates' rendered text): no
 * provider call and no extra database read, so 50 candidates cost well under a millisecond.
 */

/** One retrieved candidate, in the retrieval's order. */
export interface RerankCandidate {
  id: string;
  /** The retrieval's score (cosine similarity for cosine profiles). */
  score: number;
  /** The document's rendered input text (empty when the source has none). */
  text: string;
}

/** The feature names, in the order of a feature row and of the weights file. */
export const FEATURE_NAMES = [
  'score',
  'score_gap_to_top',
  'margin_to_next',
  'reciprocal_rank',
  'query_term_overlap',
  'bigram_overlap',
  'max_similarity_above',
] as const;

const WORD = /[\p{L}\p{N}]+/gu;

/** Lower-cased words of two or more characters. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(WORD) ?? []).filter((w) => w.length > 1);
}

function bigrams(ws: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 1; i < ws.length; i++) out.add(`${ws[i - 1]} ${ws[i]}`);
  return out;
}

function share(needles: ReadonlySet<string>, hay: ReadonlySet<string>): number {
  if (needles.size === 0) return 0;
  let n = 0;
  for (const w of needles) if (hay.has(w)) n++;
  return n / needles.size;
}

function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 0;
  let inter = 0;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const w of small) if (large.has(w)) inter++;
  return inter / (a.size + b.size - inter);
}

/**
 * One feature row per candidate. `max_similarity_above` is the word-set Jaccard similarity to
 * the most similar higher-ranked candidate: a near-duplicate of something already above scores
 * high, which a trained weight can push down (diversity). It compares text, not vectors, so it
 * needs no store read.
 */
export function candidateFeatures(query: string, candidates: readonly RerankCandidate[]): number[][] {
  const qWords = words(query);
  const qSet = new Set(qWords);
  const qBigrams = bigrams(qWords);
  const docSets: Set<string>[] = [];
  const top = candidates[0]?.score ?? 0;
  return candidates.map((c, i) => {
    const dWords = words(c.text);
    const dSet = new Set(dWords);
    let above = 0;
    for (const prev of docSets) above = Math.max(above, jaccard(dSet, prev));
    docSets.push(dSet);
    const next = candidates[i + 1];
    return [
      c.score,
      top - c.score,
      next ? c.score - next.score : 0,
      1 / (i + 1),
      share(qSet, dSet),
      qBigrams.size ? share(qBigrams, bigrams(dWords)) : 0,
      above,
    ];
  });
}
