/**
 * Token counting only where it can matter (issue 18): the tokenizer runs only on texts longer
 * in UTF-8 bytes than max_input_tokens, and still no exact limit is ever exceeded.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProfileInput } from '../../src/config/profile.js';
import { createEmbedder } from '../../src/embedders/create.js';
import { InputTooLongError } from '../../src/embedders/errors.js';
import type { ProviderClient } from '../../src/embedders/provider.js';
import { ResilientEmbedder } from '../../src/embedders/resilient.js';
import { bytesBound, estimateTokens, loadCl100k, type TokenCounter } from '../../src/embedders/tokens.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeProfile, recordingSleep } from './profile-helper.js';

const DIMS = 4;

/** The real cl100k counter behind a loader and a counter that count their calls. */
function spiedLoader() {
  const calls = { loads: 0, counts: 0, truncates: 0 };
  const load = async (): Promise<TokenCounter> => {
    calls.loads++;
    const real = await loadCl100k();
    return {
      kind: real.kind,
      count: (text) => (calls.counts++, real.count(text)),
      truncate: (text, max) => (calls.truncates++, real.truncate(text, max)),
    };
  };
  return { calls, load };
}

let fake: FakeProvider;
let cl100k: TokenCounter;
beforeAll(async () => {
  fake = await startFakeProvider({ dims: DIMS });
  cl100k = await loadCl100k();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

function embedderFor(overrides: Partial<ProfileInput>, load: () => Promise<TokenCounter>) {
  const profile = makeProfile(
    { provider: 'openai-compatible', model: 'fake-model', dims: DIMS, base_url: fake.openaiUrl, ...overrides },
    'budget',
  );
  return createEmbedder(profile, { sleep: recordingSleep().sleep, random: () => 0, loadTokenCounter: load });
}

/** A document of about 1.7 KB of prose, different per i. */
function document(i: number): string {
  const words = ['vector', 'search', 'migration', 'embedding', 'model', 'index', 'recall', 'latency'];
  const out: string[] = [`Document ${i}.`];
  for (let w = 0; out.join(' ').length < 1700; w++) out.push(words[(i * 7 + w * 3) % words.length]!);
  return out.join(' ');
}

describe('the tokenizer off the hot path', () => {
  it('neither loads nor calls the tokenizer for a batch of texts within max_input_tokens bytes', async () => {
    const { calls, load } = spiedLoader();
    const embedder = embedderFor({ batch_size: 16 }, load);
    const texts = Array.from({ length: 40 }, (_, i) => document(i));
    const result = await embedder.embed(texts, 'document');
    expect(result.vectors).toHaveLength(40);
    expect(calls).toEqual({ loads: 0, counts: 0, truncates: 0 });
    expect(fake.requests.flatMap((r) => r.inputs)).toEqual(texts);
    await embedder.warmUp!(texts, 'document');
    expect(calls.loads).toBe(0);
  });

  it('loads it once and counts only the texts longer in bytes than the limit', async () => {
    const { calls, load } = spiedLoader();
    const embedder = embedderFor({ max_input_tokens: 2000, batch_size: 8 }, load);
    const long = 'word '.repeat(500); // 2,500 bytes, 500 tokens: counted, within the limit
    const texts = [document(1), long, document(2), 'é'.repeat(1100)]; // the last: 2,200 bytes
    expect(texts.map(bytesBound).filter((b) => b > 2000)).toHaveLength(2);
    await embedder.embed(texts, 'document');
    await embedder.embed(texts, 'document');
    expect(calls.loads).toBe(1);
    expect(calls.counts).toBe(4); // two per call: `long` and the 2,200-byte text
    expect(calls.truncates).toBe(0);
    expect(fake.requests.flatMap((r) => r.inputs)).toEqual([...texts, ...texts]);
  });

  it('says which token counts are estimates: none when the provider reports usage', async () => {
    const { load } = spiedLoader();
    const reported = await embedderFor({}, load).embed(['one two three', 'four'], 'document');
    expect(reported.usage).toEqual({ tokens: 4, estimatedTokens: 0 }); // the fake counts words

    const silent: ProviderClient = {
      provider: 'openai-compatible',
      embedBatch: async (texts) => ({ vectors: texts.map(() => [1, 0, 0, 0]) }),
    };
    const profile = makeProfile({ provider: 'openai-compatible', model: 'm', dims: DIMS, max_input_tokens: 8 }, 'x');
    const embedder = new ResilientEmbedder(profile, silent, { loadTokenCounter: load });
    const short = 'hello'; // 5 bytes: estimated
    const counted = 'hello world again'; // 17 bytes > 8: counted exactly (3 tokens)
    const result = await embedder.embed([short, counted], 'document');
    expect(result.usage).toEqual({
      tokens: estimateTokens(bytesBound(short)) + cl100k.count(counted),
      estimatedTokens: estimateTokens(bytesBound(short)),
    });

    // A server that reports 0 tokens for real input does not count: its 0 is no count at all.
    const zero: ProviderClient = {
      provider: 'openai-compatible',
      embedBatch: async (texts) => ({ vectors: texts.map(() => [1, 0, 0, 0]), tokens: 0 }),
    };
    const zeroed = await new ResilientEmbedder(profile, zero, { loadTokenCounter: load }).embed([short], 'document');
    expect(zeroed.usage).toEqual({
      tokens: estimateTokens(bytesBound(short)),
      estimatedTokens: estimateTokens(bytesBound(short)),
    });
  });
});

/** Texts in several scripts, long enough to be well over a small limit. */
const SCRIPTS: Record<string, string> = {
  ascii: 'The quick brown fox jumps over the lazy dog, then naps. '.repeat(8),
  cjk: '日本語のテキストを埋め込みます。検索の品質を測ります。中文文本嵌入测试。'.repeat(4),
  emoji: '🙂👍🏽🚀👨‍👩‍👧‍👦🇫🇷✨'.repeat(8),
  combining: 'e\u0301a\u0300o\u0302u\u0308n\u0303 Z\u0336\u0337a\u0338l\u0335g\u0334o '.repeat(8),
  mixed: 'Ünïcödé — 日本 🙂 ok; Привет мир; مرحبا ',
};

/** The longest prefix of `text` with at most `max` tokens, and the shortest with more. */
function aroundLimit(text: string, max: number): { under: string; over: string } {
  let end = 0;
  const points = [...text];
  let under = '';
  for (; end < points.length; end++) {
    const candidate = points.slice(0, end + 1).join('');
    if (cl100k.count(candidate) > max) return { under, over: candidate };
    under = candidate;
  }
  throw new Error('text too short for the limit');
}

describe('exact limits in every script', () => {
  const MAX = 24;

  it.each(Object.keys(SCRIPTS))('%s: a text at the limit passes whole, one over is cut to within it', async (name) => {
    const base = SCRIPTS[name]!.repeat(4);
    const { under, over } = aroundLimit(base, MAX);
    expect(cl100k.count(under)).toBeLessThanOrEqual(MAX);
    expect(cl100k.count(over)).toBeGreaterThan(MAX);
    // Both are longer in bytes than the limit: the shortcut cannot decide, the count must.
    expect(bytesBound(under)).toBeGreaterThan(MAX);

    const { load } = spiedLoader();
    const embedder = embedderFor({ max_input_tokens: MAX, on_too_long: 'truncate', batch_size: 4 }, load);
    const result = await embedder.embed([under, over], 'document');
    expect(result.truncated).toBe(1);
    const sent = fake.requests.flatMap((r) => r.inputs);
    expect(sent[0]).toBe(under);
    expect(over.startsWith(sent[1]!)).toBe(true);
    expect(sent[1]!.length).toBeLessThan(over.length);
    for (const text of sent) {
      expect(cl100k.count(text)).toBeLessThanOrEqual(MAX);
      expect(text).not.toMatch(/\uFFFD|[\uD800-\uDBFF]$/u);
    }

    const strict = embedderFor({ max_input_tokens: MAX, on_too_long: 'fail' }, load);
    await expect(strict.embed([under], 'document')).resolves.toMatchObject({ truncated: 0 });
    const failure = strict.embed([under, over], 'document');
    await expect(failure).rejects.toBeInstanceOf(InputTooLongError);
    await expect(failure).rejects.toMatchObject({ index: 1, tokens: cl100k.count(over), maxTokens: MAX });
  });

  it.each(Object.keys(SCRIPTS))('%s: texts of max bytes skip the count, and are within the limit', async (name) => {
    const { calls, load } = spiedLoader();
    const embedder = embedderFor({ max_input_tokens: MAX, on_too_long: 'fail' }, load);
    // Every prefix of at most MAX bytes (whole code points), the longest ones included.
    const points = [...SCRIPTS[name]!];
    const texts: string[] = [];
    for (let end = 1; end <= points.length; end++) {
      const text = points.slice(0, end).join('');
      if (bytesBound(text) > MAX) break;
      if (text.trim() !== '') texts.push(text);
    }
    expect(bytesBound(texts.at(-1)!)).toBeGreaterThan(MAX - 4); // up to the limit, within a code point
    await embedder.embed(texts, 'document');
    expect(calls.counts).toBe(0);
    for (const text of fake.requests.flatMap((r) => r.inputs)) expect(cl100k.count(text)).toBeLessThanOrEqual(MAX);
  });

  it('keeps every request within batch_tokens, multi-byte texts included', async () => {
    const { calls, load } = spiedLoader();
    const BATCH = 200;
    const embedder = embedderFor({ batch_tokens: BATCH, batch_size: 64, max_input_tokens: 300 }, load);
    const texts = Object.values(SCRIPTS).flatMap((s) => [[...s].slice(0, 40).join(''), [...s].slice(10, 70).join('')]);
    const usable = texts.filter((t) => t.trim() !== '');
    expect(Math.max(...usable.map(bytesBound))).toBeLessThanOrEqual(300);
    await embedder.embed(usable, 'document');
    expect(fake.requests.length).toBeGreaterThan(1);
    for (const request of fake.requests) {
      const tokens = request.inputs.reduce((sum, text) => sum + cl100k.count(text), 0);
      expect(tokens).toBeLessThanOrEqual(BATCH);
    }
    expect(fake.requests.flatMap((r) => r.inputs)).toEqual(usable);
    expect(calls.counts).toBe(0); // every text is within 300 bytes
  });
});
