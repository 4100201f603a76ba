import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/random.js';
import {
  candidateFeatures,
  FEATURE_NAMES,
  MAX_WORDS,
  wordHashes,
  type RerankCandidate,
} from '../../src/router/rerank-features.js';
import {
  fitWeights,
  loadWeights,
  rerankByFeatures,
  RerankWeightsError,
  type RerankWeights,
} from '../../src/router/rerank-model.js';
import { FeaturesReranker } from '../../src/router/rerank-stage.js';

/**
 * Synthetic queries whose relevant document shares the query's words but sits low in the
 * retrieval's order: the model can only rank it first by learning the lexical-overlap feature.
 */
function synthetic(seed: number, queries: number) {
  const random = seededRandom(seed);
  const vocab = Array.from({ length: 200 }, (_, i) => `w${i}`);
  const pick = (n: number) => Array.from({ length: n }, () => vocab[Math.floor(random() * vocab.length)]!);
  const out: Array<{ query: string; candidates: RerankCandidate[]; relevant: number }> = [];
  for (let q = 0; q < queries; q++) {
    const queryWords = pick(4);
    const relevant = 3 + Math.floor(random() * 10);
    const candidates = Array.from({ length: 15 }, (_, i) => ({
      id: `d${q}-${i}`,
      score: 0.9 - i * 0.01 - random() * 0.005,
      text: (i === relevant ? [...queryWords, ...pick(6)] : pick(10)).join(' '),
    }));
    out.push({ query: queryWords.join(' '), candidates, relevant });
  }
  return out;
}

function examples(data: ReturnType<typeof synthetic>) {
  const rows: number[][] = [];
  const labels: number[] = [];
  for (const d of data) {
    rows.push(...candidateFeatures(d.query, d.candidates));
    labels.push(...d.candidates.map((_, i) => (i === d.relevant ? 1 : 0)));
  }
  return { rows, labels };
}

describe('the features reranker', () => {
  it('computes one row per candidate with every feature', () => {
    const rows = candidateFeatures('cats and dogs', [
      { id: 'a', score: 0.9, text: 'All about cats and dogs' },
      { id: 'b', score: 0.7, text: 'all about cats and dogs' },
      { id: 'c', score: 0.5, text: 'fish' },
    ]);
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r).toHaveLength(FEATURE_NAMES.length);
    const f = (name: (typeof FEATURE_NAMES)[number]) => FEATURE_NAMES.indexOf(name);
    expect(rows[0]![f('query_term_overlap')]).toBe(1);
    expect(rows[2]![f('query_term_overlap')]).toBe(0);
    expect(rows[0]![f('margin_to_next')]).toBeCloseTo(0.2, 12);
    expect(rows[2]![f('margin_to_next')]).toBe(0);
    // b is a copy of a (case aside): the diversity feature says so; c shares nothing above it.
    expect(rows[1]![f('max_similarity_above')]).toBe(1);
    expect(rows[2]![f('max_similarity_above')]).toBe(0);
    expect(rows[1]![f('score_gap_to_top')]).toBeCloseTo(0.2, 12);
  });

  it('hashes words case-insensitively, skips one-letter words, and reads at most MAX_WORDS of a document', () => {
    const [a, b, c, d] = Array.from(wordHashes('Cats, CATS; cats! a dogs'));
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(d).not.toBe(a);
    expect(wordHashes('Cats a b c')).toHaveLength(1);
    expect(wordHashes('Ünïcödé wörds 日本語')).toHaveLength(3);
    const long = Array.from({ length: MAX_WORDS * 3 }, (_, i) => `w${i}`).join(' ');
    expect(wordHashes(long)).toHaveLength(MAX_WORDS);
    // A query word past the limit is not seen.
    const rows = candidateFeatures(`w${MAX_WORDS * 2}`, [{ id: 'x', score: 1, text: long }]);
    expect(rows[0]![FEATURE_NAMES.indexOf('query_term_overlap')]).toBe(0);
  });

  it('is deterministic given a seed, and another seed gives other weights', () => {
    const { rows, labels } = examples(synthetic(7, 40));
    const a = fitWeights(rows, labels, { seed: 3, epochs: 20 });
    const b = fitWeights(rows, labels, { seed: 3, epochs: 20 });
    const c = fitWeights(rows, labels, { seed: 4, epochs: 20 });
    expect(b).toEqual(a);
    expect(c.weights).not.toEqual(a.weights);
  });

  it('learns what the features can show: held-out relevant documents move to rank 1', () => {
    const train = examples(synthetic(11, 60));
    const weights: RerankWeights = { ...fitWeights(train.rows, train.labels, { seed: 1, epochs: 30 }), trained: {} };
    const test = synthetic(12, 40);
    const first = test.filter((d) => rerankByFeatures(weights, d.query, d.candidates).order[0] === d.relevant).length;
    // The retrieval never has it first (it is at rank 4 or lower).
    expect(first / test.length).toBeGreaterThan(0.8);
    expect(weights.weights[FEATURE_NAMES.indexOf('query_term_overlap')]).toBeGreaterThan(0);
  });

  it("keeps recurring documents' words between searches, and scans a document again when its text changed", async () => {
    const train = synthetic(21, 120);
    const { rows, labels } = examples(train);
    const weights: RerankWeights = { ...fitWeights(rows, labels, { seed: 5, epochs: 30 }), trained: {} };
    const data = synthetic(22, 30);
    const keeping = new FeaturesReranker(weights);
    const scanning = new FeaturesReranker(weights, 0);
    // Twice over the same documents: the second pass reads kept words and must rank alike.
    for (let pass = 0; pass < 2; pass++)
      for (const d of data) {
        const fresh = rerankByFeatures(weights, d.query, d.candidates).order;
        expect(await keeping.rerank(d.query, d.candidates)).toEqual(fresh);
        expect(await scanning.rerank(d.query, d.candidates)).toEqual(fresh);
      }
    // One document's text changes under the same id (it was re-written): its new words count.
    const d = data[0]!;
    const last = d.candidates.length - 1;
    const changed = d.candidates.map((c, i) => (i === last ? { ...c, text: d.query } : c));
    const order = await keeping.rerank(d.query, changed);
    expect(order).toEqual(rerankByFeatures(weights, d.query, changed).order);
    expect(order).not.toEqual(await keeping.rerank(d.query, d.candidates));
  });

  it('refuses a missing, non-JSON or foreign weights file with a typed error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rerank-weights-'));
    await expect(loadWeights(join(dir, 'none.json'))).rejects.toBeInstanceOf(RerankWeightsError);
    writeFileSync(join(dir, 'bad.json'), '{"kind": ');
    await expect(loadWeights(join(dir, 'bad.json'))).rejects.toThrow(/not JSON/);
    const { rows, labels } = examples(synthetic(1, 5));
    const good = { ...fitWeights(rows, labels, { seed: 1, epochs: 2 }), trained: {} };
    writeFileSync(join(dir, 'short.json'), JSON.stringify({ ...good, weights: good.weights.slice(1) }));
    const error = await loadWeights(join(dir, 'short.json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankWeightsError);
    expect((error as RerankWeightsError).code).toBe('RERANK_WEIGHTS_INVALID');
    expect((error as RerankWeightsError).exitCode).toBe(2);
    writeFileSync(join(dir, 'nan.json'), JSON.stringify({ ...good, std: good.std.map(() => 0) }));
    await expect(loadWeights(join(dir, 'nan.json'))).rejects.toThrow(/positive/);
    writeFileSync(join(dir, 'good.json'), JSON.stringify(good));
    expect((await loadWeights(join(dir, 'good.json'))).weights).toEqual(good.weights);
  });
});
