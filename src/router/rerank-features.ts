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

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

function isWordChar(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
  // Astral letters (a surrogate pair) count as word characters; everything else by its category.
  return (c >= 0xd800 && c <= 0xdfff) || LETTER_OR_DIGIT.test(text[i]!);
}

/**
 * Calls `each` with every lower-cased word (a run of letters and digits) of two or more
 * characters. A hand-written scan: a Unicode regex over 50 abstracts was most of the reranker's
 * time.
 */
function eachWord(text: string, each: (word: string) => void): void {
  const t = text.toLowerCase();
  let start = -1;
  for (let i = 0; i <= t.length; i++) {
    if (i < t.length && isWordChar(t, i)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > 1) each(t.slice(start, i));
      start = -1;
    }
  }
}

/** Lower-cased words of two or more characters. */
export function words(text: string): string[] {
  const out: string[] = [];
  eachWord(text, (w) => out.push(w));
  return out;
}

/**
 * How many candidates ranked just above one are compared with it for `max_similarity_above`:
 * near-duplicates sit next to each other in a ranking (similar text, similar score), and a
 * bounded window keeps the feature linear in the number of candidates.
 */
export const DIVERSITY_WINDOW = 10;

/** Two word ids as one number (ids stay far below 2^26 for any realistic candidate set). */
const pair = (a: number, b: number) => a * 67_108_864 + b;

/** |a ∩ b| / |a ∪ b| of two sorted arrays of unique ids, by merging. */
function jaccard(a: Int32Array, b: Int32Array): number {
  if (a.length === 0 && b.length === 0) return 0;
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      inter++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return inter / (a.length + b.length - inter);
}

/**
 * One feature row per candidate. `max_similarity_above` is the word-set Jaccard similarity to
 * the most similar of the DIVERSITY_WINDOW candidates ranked just above: a near-duplicate of something already above scores
 * high, which a trained weight can push down (diversity). It compares text, not vectors, so it
 * needs no store read. Words are interned to integer ids once, so the n²/2 comparisons are merges
 * of sorted integer arrays.
 */
export function candidateFeatures(query: string, candidates: readonly RerankCandidate[]): number[][] {
  const ids = new Map<string, number>();
  const idOf = (w: string): number => {
    let id = ids.get(w);
    if (id === undefined) ids.set(w, (id = ids.size));
    return id;
  };
  const wordIds = (text: string): number[] => {
    const out: number[] = [];
    eachWord(text, (w) => out.push(idOf(w)));
    return out;
  };
  const qWords = wordIds(query);
  const qSet = new Set(qWords);
  const qBigrams = new Set<number>();
  for (let i = 1; i < qWords.length; i++) qBigrams.add(pair(qWords[i - 1]!, qWords[i]!));
  const docSets: Int32Array[] = [];
  const top = candidates[0]?.score ?? 0;
  return candidates.map((c, i) => {
    const dWords = wordIds(c.text);
    const distinct = new Set(dWords);
    const unique = new Int32Array(distinct.size);
    let u = 0;
    for (const id of distinct) unique[u++] = id;
    unique.sort();
    let termsFound = 0;
    for (const id of unique) if (qSet.has(id)) termsFound++;
    const bigramsFound = new Set<number>();
    for (let k = 1; k < dWords.length; k++) {
      const a = dWords[k - 1]!;
      const b = dWords[k]!;
      if (qSet.has(a) && qSet.has(b) && qBigrams.has(pair(a, b))) bigramsFound.add(pair(a, b));
    }
    let above = 0;
    for (let j = Math.max(0, i - DIVERSITY_WINDOW); j < i; j++) above = Math.max(above, jaccard(unique, docSets[j]!));
    docSets.push(unique);
    const next = candidates[i + 1];
    return [
      c.score,
      top - c.score,
      next ? c.score - next.score : 0,
      1 / (i + 1),
      qSet.size ? termsFound / qSet.size : 0,
      qBigrams.size ? bigramsFound.size / qBigrams.size : 0,
      above,
    ];
  });
}
