import { describe, expect, it } from 'vitest';
import { createEmbedder } from '../../src/embedders/create.js';
import { EmptyInputError } from '../../src/embedders/errors.js';
import { HashProvider, HashVectorizer } from '../../src/embedders/hash.js';
import { cosine, makeProfile, norm } from './profile-helper.js';

function vec(text: string, dims = 256, options?: ConstructorParameters<typeof HashVectorizer>[1]): Float32Array {
  const result = new HashVectorizer(dims, options).vectorize(text);
  if (!result) throw new Error(`no vector for ${JSON.stringify(text)}`);
  return result.vector;
}

describe('hash provider', () => {
  it('is deterministic across instances', () => {
    const text = 'Zero downtime migrations need a rollback plan';
    expect(Array.from(vec(text))).toEqual(Array.from(vec(text)));
    expect(Array.from(new HashVectorizer(64).vectorize(text)!.vector)).toEqual(Array.from(vec(text, 64)));
  });

  it('keeps producing the exact vectors stored under existing fingerprints', () => {
    // Golden values: if this test fails, stored hash vectors no longer match their fingerprint.
    const golden = [
      0.27735, 0.27735, 0, 0.27735, 0, 0, 0, 0.27735, 0, -0.27735, -0.27735, -0.27735, 0.27735, 0.5547, 0, 0.27735,
    ];
    vec('Hello, world!', 16).forEach((value, i) => expect(value).toBeCloseTo(golden[i]!, 5));
    const custom = [0, -0.291411, 0.145705, 0.582822, -0.582822, -0.414761, 0.145705, 0.145705];
    const options = { word_ngrams: [1, 3] as [number, number], char_ngrams: [2, 4] as [number, number], seed: 42 };
    vec('Zero-downtime re-embedding', 8, options).forEach((value, i) => expect(value).toBeCloseTo(custom[i]!, 5));
  });

  it('returns the profile dims with unit norm', () => {
    for (const dims of [1, 7, 384, 1536]) {
      const v = vec('vector search with pgvector and HNSW indexes', dims);
      expect(v).toHaveLength(dims);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
  });

  it('uses signed buckets', () => {
    const v = vec('the quick brown fox jumps over the lazy dog again and again', 64);
    expect(v.some((x) => x < 0)).toBe(true);
    expect(v.some((x) => x > 0)).toBe(true);
    // In one dimension only the sign is left: it must vary, and never cancel to zero or NaN.
    const signs = 'abcdefghijklmnopqrstuvwxyz'.split('').map((letter) => vec(letter, 1)[0]);
    expect(new Set(signs)).toEqual(new Set([1, -1]));
  });

  it('gives different vectors for different seeds', () => {
    const text = 'embedding profiles and their fingerprints';
    const a = vec(text, 256, { word_ngrams: [1, 2], char_ngrams: [3, 5], seed: 0 });
    const b = vec(text, 256, { word_ngrams: [1, 2], char_ngrams: [3, 5], seed: 1 });
    expect(Math.abs(cosine(a, b))).toBeLessThan(0.5);
  });

  it('puts similar texts closer than unrelated ones', () => {
    const query = vec('protein folding in yeast cells');
    const similar = vec('yeast cell protein folding mechanisms');
    const unrelated = vec('quarterly revenue grew in the retail segment');
    expect(cosine(query, similar)).toBeGreaterThan(0.4);
    expect(cosine(query, similar)).toBeGreaterThan(cosine(query, unrelated) + 0.3);
    // Word order matters (bigrams), but shared words keep the texts close.
    const a = vec('dog bites man');
    const b = vec('man bites dog');
    expect(cosine(a, b)).toBeLessThan(0.999);
    expect(cosine(a, b)).toBeGreaterThan(0.6);
  });

  it('handles Unicode: case, composed and decomposed accents, non-Latin scripts', () => {
    expect(Array.from(vec('CAFÉ Zürich'))).toEqual(Array.from(vec('café zürich')));
    expect(Array.from(vec('cafe\u0301'))).toEqual(Array.from(vec('caf\u00e9')));
    for (const text of ['東京の天気は晴れです', 'Привет, мир', 'مرحبا بالعالم', '😀 emoji with words 42']) {
      expect(norm(vec(text, 32))).toBeCloseTo(1, 5);
    }
    expect(cosine(vec('Привет мир'), vec('мир привет'))).toBeGreaterThan(0.5);
  });

  it('refuses a text without letters or digits instead of returning a zero vector', async () => {
    const provider = new HashProvider({ name: 'lexical', dims: 16 });
    expect(new HashVectorizer(16).vectorize('!!! ... 😀')).toBeUndefined();
    await expect(provider.embedBatch(['fine text', '?!'])).rejects.toThrow(
      new EmptyInputError('lexical', 1, 'has no letters or digits to hash'),
    );
  });

  it('reports word tokens as usage', async () => {
    const provider = new HashProvider({ name: 'lexical', dims: 16 });
    const result = await provider.embedBatch(['one two three', 'four, five!']);
    expect(result.tokens).toBe(5);
  });

  it('works end to end through createEmbedder, with the index of an empty text in the whole call', async () => {
    const embedder = createEmbedder(makeProfile({ provider: 'hash', dims: 32, batch_size: 2 }, 'lexical'));
    const result = await embedder.embed(['alpha beta', 'gamma', 'delta epsilon zeta'], 'document');
    expect(result.vectors).toHaveLength(3);
    expect(result.usage.tokens).toBe(6);
    expect(Array.from(result.vectors[2]!)).toEqual(Array.from(vec('delta epsilon zeta', 32)));
    const failure = embedder.embed(['alpha', 'beta', 'gamma', '...'], 'document');
    await expect(failure).rejects.toBeInstanceOf(EmptyInputError);
    await expect(failure).rejects.toMatchObject({ index: 3, code: 'EMPTY_INPUT' });
    await expect(embedder.embed(['alpha', '  \n\t '], 'query')).rejects.toThrow(
      'profile lexical: input 1 is empty or whitespace only',
    );
  });
});
