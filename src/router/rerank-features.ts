/**
 * The features of a retrieval candidate that the built-in `features` reranker scores, computed
 * from what the retrieval already has (scores, ranks, the candidates' rendered text): no
 * provider call and no extra database read (BENCHMARKS.md, `rerank`, has what 50 cost).
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
 * Words of a document the features read: its first 512 (an abstract, a passage, a few
 * paragraphs). Bounds the reranker's cost whatever the documents' length, as a cross-encoder's
 * token limit does.
 */
export const MAX_WORDS = 512;

/** Characters read per word allowed (a word of up to 24 and its separator). */
const CHARS_PER_WORD = 25;

/** The characters of a document the features read: enough for MAX_WORDS words of up to 24. */
export const SCANNED_CHARS = MAX_WORDS * CHARS_PER_WORD;

/**
 * The words of a text (runs of letters and digits, two characters or more, case folded) as
 * FNV-1a hashes (30 bits), in order. Hashing while scanning spares a string and a map lookup per
 * word, which were most of the reranker's time; two words sharing a hash (about one pair in a
 * billion) only blurs a feature.
 */
export function wordHashes(text: string, maxWords = MAX_WORDS): Int32Array {
  // Enough characters for maxWords words of any length up to 24; longer texts are not scanned.
  const chars = maxWords * CHARS_PER_WORD;
  const t = (text.length > chars ? text.slice(0, chars) : text).toLowerCase();
  const out = new Int32Array(Math.min(maxWords, Math.ceil(t.length / 2) + 1));
  let n = 0;
  let h = 0x811c9dc5;
  let len = 0;
  for (let i = 0; i <= t.length; i++) {
    if (i < t.length && isWordChar(t, i)) {
      h = Math.imul(h ^ t.charCodeAt(i), 0x01000193);
      len++;
    } else if (len > 0) {
      // 30 bits: small integers to V8 (no boxed numbers in the sets below).
      if (len > 1) {
        out[n++] = h & 0x3fffffff;
        if (n === maxWords) break;
      }
      h = 0x811c9dc5;
      len = 0;
    }
  }
  return out.subarray(0, n);
}

/** The distinct values of an array, sorted. */
function distinctSorted(values: Int32Array): Int32Array {
  const sorted = values.slice().sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[n++] = sorted[i]!;
  return sorted.subarray(0, n);
}

/**
 * How many candidates ranked just above one are compared with it for `max_similarity_above`:
 * near-duplicates sit next to each other in a ranking (similar text, similar score), and a
 * bounded window keeps the feature linear in the number of candidates.
 */
export const DIVERSITY_WINDOW = 10;

/** Two word hashes as one (order matters). */
const pair = (a: number, b: number) => (Math.imul(a, 0x9e3779b1) ^ b) & 0x3fffffff;

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

/** A document's words as the features read them: in order (for bigrams) and distinct, sorted (for sets). */
export interface DocumentWords {
  words: Int32Array;
  unique: Int32Array;
}

/** The words of a document's text (the scan that is most of the features' cost). */
export function documentWords(text: string): DocumentWords {
  const words = wordHashes(text);
  return { words, unique: distinctSorted(words) };
}

/**
 * One feature row per candidate. `max_similarity_above` is the word-set Jaccard similarity to
 * the most similar of the DIVERSITY_WINDOW candidates ranked just above: a near-duplicate of something already above scores
 * high, which a trained weight can push down (diversity). It compares text, not vectors, so it
 * needs no store read. Words are hashed to integers, so comparisons are merges of sorted arrays.
 */
export function candidateFeatures(
  query: string,
  candidates: readonly RerankCandidate[],
  /** A candidate's words (the reranker's cache of recurring documents; a fresh scan by default). */
  wordsOf: (candidate: RerankCandidate) => DocumentWords = (c) => documentWords(c.text),
): number[][] {
  const qWords = wordHashes(query);
  const qSet = new Set(qWords);
  const qBigrams = new Set<number>();
  for (let i = 1; i < qWords.length; i++) qBigrams.add(pair(qWords[i - 1]!, qWords[i]!));
  const docSets: Int32Array[] = [];
  const top = candidates[0]?.score ?? 0;
  return candidates.map((c, i) => {
    const { words: dWords, unique } = wordsOf(c);
    let termsFound = 0;
    for (const id of unique) if (qSet.has(id)) termsFound++;
    const bigramsFound = new Set<number>();
    if (qBigrams.size > 0) {
      let previous = 0;
      let previousInQuery = false;
      for (let k = 0; k < dWords.length; k++) {
        const w = dWords[k]!;
        const inQuery = qSet.has(w);
        if (inQuery && previousInQuery && qBigrams.has(pair(previous, w))) bigramsFound.add(pair(previous, w));
        previous = w;
        previousInQuery = inQuery;
      }
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
