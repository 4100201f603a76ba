/**
 * The built-in `hash` provider: a deterministic lexical embedder, no model and no network.
 *
 * Features are word n-grams and character n-grams (each word padded with `<` and `>`), hashed
 * into `dims` signed buckets (the "hashing trick"), weighted by sublinear term frequency
 * (1 + ln tf) and L2-normalized. Texts that share words and word pieces land close together,
 * which makes it a usable baseline and a realistic stand-in for a model in tests and demos.
 *
 * STABILITY: stored vectors are tied to the profile fingerprint, which does not change when
 * reembed is upgraded. Everything below that decides a vector (tokenization, the hash
 * functions and their constants, the weighting, the sign and bucket bits) must therefore never
 * change. That is why the 32-bit hashes are written here instead of taken from a library whose
 * output could change in a new version. A deliberate change needs a new PREPROCESSING_VERSION
 * (config/fingerprint.ts), so that old vectors are recognised as belonging to another profile.
 */
import { DEFAULT_HASH_OPTIONS, type HashOptions } from '../config/profile.js';
import { EmptyInputError } from './errors.js';
import type { ProviderBatchResult, ProviderClient } from './provider.js';

// FNV-1a (32-bit) over UTF-16 code units, not UTF-8 bytes: no encoding step per n-gram.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** Starting state for word n-grams, so they never share a hash family with character n-grams. */
const WORD_TAG = 0x57_4f_52_44; // "WORD"
const LEFT_PAD = 0x3c; // "<"
const RIGHT_PAD = 0x3e; // ">"
const WORD_RE = /[\p{L}\p{N}]+/gu;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/;

function fnv1a(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h | 0;
}

/** MurmurHash3's block step: mixes a 32-bit value into a running hash (used for word sequences). */
function combine(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finalizer: full avalanche, so bucket and sign bits are independent. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Counts feature occurrences in one text: open addressing over typed arrays, reused from text
 * to text, because a Map per text dominated the profile of the benchmark.
 */
class FeatureCounter {
  private keys = new Int32Array(1024);
  private counts = new Int32Array(1024);
  private slots = new Int32Array(512);
  private shift = 22; // 32 - log2(capacity)
  size = 0;

  add(key: number): void {
    const mask = this.keys.length - 1;
    let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (this.counts[slot] !== 0) {
      if (this.keys[slot] === key) {
        this.counts[slot]!++;
        return;
      }
      slot = (slot + 1) & mask;
    }
    this.keys[slot] = key;
    this.counts[slot] = 1;
    this.slots[this.size++] = slot;
    if (this.size * 2 >= this.keys.length) this.grow();
  }

  key(i: number): number {
    return this.keys[this.slots[i]!]!;
  }

  count(i: number): number {
    return this.counts[this.slots[i]!]!;
  }

  clear(): void {
    for (let i = 0; i < this.size; i++) this.counts[this.slots[i]!] = 0;
    this.size = 0;
  }

  private grow(): void {
    const keys = new Int32Array(this.size);
    const counts = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      keys[i] = this.key(i);
      counts[i] = this.count(i);
    }
    const capacity = this.keys.length * 2;
    this.keys = new Int32Array(capacity);
    this.counts = new Int32Array(capacity);
    this.slots = new Int32Array(capacity / 2);
    this.shift--;
    const total = this.size;
    this.size = 0;
    for (let i = 0; i < total; i++) {
      this.add(keys[i]!);
      this.counts[this.slots[i]!] = counts[i]!;
    }
  }
}

/** Hashes texts for one set of options; keeps scratch buffers, so one instance per thread of work. */
export class HashVectorizer {
  readonly dims: number;
  private readonly options: HashOptions;
  private readonly seedMix: number;
  private readonly features = new FeatureCounter();
  private readonly sums: Float64Array;

  constructor(dims: number, options: HashOptions = DEFAULT_HASH_OPTIONS) {
    this.dims = dims;
    this.options = options;
    this.seedMix = fmix32(Math.imul(options.seed, 0x9e3779b1) + 0x7f4a7c15);
    this.sums = new Float64Array(dims);
  }

  /** The vector and word count of one text, or undefined when it has no letters or digits. */
  vectorize(text: string): { vector: Float32Array; words: number } | undefined {
    // NFC first, so "é" typed as e + combining accent is the same word as the precomposed one.
    const prepared = (NON_ASCII.test(text) ? text.normalize('NFC') : text).toLowerCase();
    const words = prepared.match(WORD_RE);
    if (words === null) return undefined;
    this.countWordNgrams(words);
    for (const word of words) this.countCharNgrams(word);
    const vector = this.project();
    this.features.clear();
    return { vector, words: words.length };
  }

  private countWordNgrams(words: string[]): void {
    const [min, max] = this.options.word_ngrams;
    const hashes = words.map(fnv1a);
    for (let start = 0; start < hashes.length; start++) {
      let h = WORD_TAG;
      for (let n = 1; n <= max && start + n <= hashes.length; n++) {
        h = combine(h, hashes[start + n - 1]!);
        // The length goes in last so that "a" and "a b" differ even if their states collided.
        if (n >= min) this.features.add(combine(h, n));
      }
    }
  }

  /** Every n-gram of "<word>" with n in range, hashed incrementally: no substring is built. */
  private countCharNgrams(word: string): void {
    const [min, max] = this.options.char_ngrams;
    const padded = word.length + 2;
    for (let start = 0; start + min <= padded; start++) {
      let h = FNV_OFFSET;
      const end = Math.min(padded, start + max);
      for (let i = start; i < end; i++) {
        const code = i === 0 ? LEFT_PAD : i === padded - 1 ? RIGHT_PAD : word.charCodeAt(i - 1);
        h = Math.imul(h ^ code, FNV_PRIME);
        if (i - start + 1 >= min) this.features.add(h | 0);
      }
    }
  }

  private project(): Float32Array {
    const { features, sums, dims } = this;
    for (const signed of [true, false]) {
      for (let i = 0; i < features.size; i++) {
        const mixed = fmix32(features.key(i) ^ this.seedMix);
        // Top bit: the sign; the other 31 bits: the bucket.
        const sign = signed && mixed < 0 ? -1 : 1;
        sums[(mixed & 0x7fffffff) % dims]! += sign * (1 + Math.log(features.count(i)));
      }
      let norm = 0;
      for (let b = 0; b < dims; b++) norm += sums[b]! * sums[b]!;
      // Signed buckets can cancel exactly (a one-word text in very few dims). A zero vector is
      // never acceptable, so fall back to unsigned weights, which cannot cancel.
      if (norm > 0) {
        const out = new Float32Array(dims);
        const scale = 1 / Math.sqrt(norm);
        for (let b = 0; b < dims; b++) out[b] = sums[b]! * scale;
        sums.fill(0);
        return out;
      }
    }
    throw new Error('unreachable: unsigned weights are positive');
  }
}

/** The `hash` provider as seen by the resilience layer. */
export class HashProvider implements ProviderClient {
  readonly provider = 'hash' as const;
  private readonly vectorizer: HashVectorizer;

  constructor(private readonly profile: { name: string; dims: number; hash?: HashOptions }) {
    this.vectorizer = new HashVectorizer(profile.dims, profile.hash ?? DEFAULT_HASH_OPTIONS);
  }

  async embedBatch(texts: string[]): Promise<ProviderBatchResult> {
    return this.embedSync(texts);
  }

  /** Synchronous form for callers that hash in bulk (benchmarks, evaluation). */
  embedSync(texts: string[]): { vectors: Float32Array[]; tokens: number } {
    const vectors: Float32Array[] = new Array<Float32Array>(texts.length);
    let tokens = 0;
    for (let i = 0; i < texts.length; i++) {
      const result = this.vectorizer.vectorize(texts[i]!);
      if (result === undefined) throw new EmptyInputError(this.profile.name, i, 'has no letters or digits to hash');
      vectors[i] = result.vector;
      tokens += result.words;
    }
    return { vectors, tokens };
  }
}
