import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProfileInput } from '../../src/config/profile.js';
import { createEmbedder, type CreateEmbedderOptions } from '../../src/embedders/create.js';
import {
  EmptyInputError,
  InputTooLongError,
  InvalidResponseError,
  ProviderAuthError,
  ProviderRejectedError,
  ProviderTimeoutError,
  RateLimitedError,
} from '../../src/embedders/errors.js';
import type { ProviderBatchResult, ProviderClient } from '../../src/embedders/provider.js';
import { ResilientEmbedder } from '../../src/embedders/resilient.js';
import { approximateTokens } from '../../src/embedders/tokens.js';
import { fakeVector, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeProfile, norm, recordingSleep } from './profile-helper.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/wait.js';

const DIMS = 8;

function unit(text: string): number[] {
  const v = fakeVector(text, DIMS);
  const n = Math.hypot(...v);
  return Array.from(Float32Array.from(v, (x) => x / n));
}

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider({ dims: DIMS });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  fake.setFaults(undefined);
});

function embedderFor(overrides: Partial<ProfileInput> = {}, options: CreateEmbedderOptions = {}) {
  const recorder = recordingSleep();
  const profile = makeProfile(
    { provider: 'openai-compatible', model: 'fake-model', dims: DIMS, base_url: fake.openaiUrl, ...overrides },
    'minilm',
  );
  const embedder = createEmbedder(profile, { sleep: recorder.sleep, random: () => 0, ...options });
  return { embedder, waits: recorder.waits };
}

const texts = (n: number, prefix = 'text'): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i}`);

describe('batching', () => {
  it('splits by batch_size and returns vectors in input order', async () => {
    const input = texts(7);
    const { embedder } = embedderFor({ batch_size: 3, concurrency: 1 });
    const result = await embedder.embed(input, 'document');
    expect(fake.requests.map((r) => r.inputs)).toEqual([input.slice(0, 3), input.slice(3, 6), input.slice(6)]);
    expect(result.vectors.map((v) => Array.from(v))).toEqual(input.map(unit));
  });

  it('splits by batch_tokens, a text above the budget going alone', async () => {
    const ten = (c: string): string => c.repeat(40); // 10 tokens by chars/4
    const input = [ten('a'), ten('b'), ten('c'), 'x'.repeat(120), ten('d')];
    const { embedder } = embedderFor({ batch_tokens: 25, concurrency: 1 }, { tokenCounter: approximateTokens });
    const result = await embedder.embed(input, 'document');
    expect(fake.requests.map((r) => r.inputs)).toEqual([[input[0], input[1]], [input[2]], [input[3]], [input[4]]]);
    expect(result.vectors.map((v) => Array.from(v))).toEqual(input.map(unit));
  });

  it('makes no request for an empty list', async () => {
    const { embedder } = embedderFor();
    expect(await embedder.embed([], 'document')).toEqual({
      vectors: [],
      usage: { tokens: 0, estimatedTokens: 0 },
      truncated: 0,
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('reports the tokens the provider counted', async () => {
    const { embedder } = embedderFor({ batch_size: 2 });
    const result = await embedder.embed(['one two', 'three', 'four five six'], 'document');
    expect(result.usage.tokens).toBe(6); // the fake counts words
  });
});

describe('concurrency', () => {
  it('keeps at most `concurrency` requests in flight', async () => {
    const slow = await startFakeProvider({ dims: DIMS, latencyMs: 80 });
    try {
      for (const concurrency of [1, 3]) {
        slow.reset();
        const profile = makeProfile(
          { provider: 'ollama', model: 'm', dims: DIMS, base_url: slow.url, batch_size: 1, concurrency },
          'minilm',
        );
        await createEmbedder(profile).embed(texts(8), 'document');
        expect(slow.requests).toHaveLength(8);
        expect(slow.maxInFlight).toBe(concurrency);
      }
    } finally {
      await slow.close();
    }
  });

  it('shares the limit between concurrent embed calls', async () => {
    const slow = await startFakeProvider({ dims: DIMS, latencyMs: 80 });
    try {
      const profile = makeProfile(
        { provider: 'ollama', model: 'm', dims: DIMS, base_url: slow.url, batch_size: 1, concurrency: 2 },
        'minilm',
      );
      const embedder = createEmbedder(profile);
      await Promise.all([embedder.embed(texts(4, 'a'), 'document'), embedder.embed(texts(4, 'b'), 'query')]);
      expect(slow.requests).toHaveLength(8);
      expect(slow.maxInFlight).toBe(2);
    } finally {
      await slow.close();
    }
  });
});

describe('rate limits', () => {
  it('spaces requests to rpm: a one-second burst, then one every 500 ms', async () => {
    // The embedder's own clock, moved by the test: how many requests a loaded machine manages in
    // a second of its time does not enter into it.
    const clock = new ManualClock();
    const { embedder } = embedderFor(
      { rate_limit: { rpm: 120 }, batch_size: 1, concurrency: 4 },
      { sleep: clock.sleep, now: clock.now },
    );
    const done = embedder.embed(texts(4), 'document');
    // Two requests at 120 rpm fit the burst and go at once; the other two wait for the clock.
    expect(await waitFor(() => fake.requests.length === 2 && clock.waiting === 2, 10_000)).toBe(true);
    clock.advance(499);
    expect(clock.waiting).toBe(2);
    clock.advance(1);
    expect(await waitFor(() => fake.requests.length === 3, 10_000)).toBe(true);
    clock.advance(499);
    expect(clock.waiting).toBe(1);
    expect(fake.requests).toHaveLength(3);
    clock.advance(1);
    expect((await done).vectors).toHaveLength(4);
    expect(fake.requests).toHaveLength(4);
  });
});

describe('input limits', () => {
  const long = 'one two three four five six seven eight';

  it('truncates to max_input_tokens and counts it', async () => {
    const { embedder } = embedderFor({ max_input_tokens: 5, on_too_long: 'truncate' });
    const result = await embedder.embed(['short text', long, long], 'document');
    expect(result.truncated).toBe(2);
    expect(fake.requests[0]!.inputs).toEqual(['short text', 'one two three four five', 'one two three four five']);
    expect(Array.from(result.vectors[1]!)).toEqual(unit('one two three four five'));
  });

  it('fails with the index and the count under on_too_long: fail, before any request', async () => {
    const { embedder } = embedderFor({ max_input_tokens: 5, on_too_long: 'fail' });
    const failure = embedder.embed(['short text', long], 'document');
    await expect(failure).rejects.toBeInstanceOf(InputTooLongError);
    await expect(failure).rejects.toMatchObject({ index: 1, tokens: 8, maxTokens: 5 });
    expect(fake.requests).toHaveLength(0);
  });

  it('counts the prefix toward the limit', async () => {
    const { embedder } = embedderFor({ max_input_tokens: 5, on_too_long: 'fail', query_prefix: 'query: ' });
    await expect(embedder.embed(['one two three four'], 'query')).rejects.toMatchObject({ tokens: 6 });
    await expect(embedder.embed(['one two three four'], 'document')).resolves.toMatchObject({ truncated: 0 });
  });

  it('rejects empty and whitespace-only texts by index, even with a prefix', async () => {
    const { embedder } = embedderFor({ document_prefix: 'passage: ' });
    const failure = embedder.embed(['fine', '', 'also fine'], 'document');
    await expect(failure).rejects.toBeInstanceOf(EmptyInputError);
    await expect(failure).rejects.toThrow('profile minilm: input 1 is empty or whitespace only');
    await expect(embedder.embed([' \n\u00a0\t'], 'document')).rejects.toMatchObject({ code: 'EMPTY_INPUT', index: 0 });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('prefixes and normalization', () => {
  it('applies document_prefix and query_prefix by purpose', async () => {
    const { embedder } = embedderFor({ document_prefix: 'passage: ', query_prefix: 'query: ' });
    const documents = await embedder.embed(['a cat'], 'document');
    const queries = await embedder.embed(['a cat'], 'query');
    expect(fake.requests.map((r) => r.inputs)).toEqual([['passage: a cat'], ['query: a cat']]);
    expect(Array.from(documents.vectors[0]!)).toEqual(unit('passage: a cat'));
    expect(Array.from(queries.vectors[0]!)).toEqual(unit('query: a cat'));
  });

  it('normalizes to unit length only when the profile says so', async () => {
    const normalized = await embedderFor({ normalize: true }).embedder.embed(['some text'], 'document');
    expect(norm(normalized.vectors[0]!)).toBeCloseTo(1, 6);
    const raw = await embedderFor({ normalize: false }).embedder.embed(['some text'], 'document');
    expect(Array.from(raw.vectors[0]!)).toEqual(Array.from(Float32Array.from(fakeVector('some text', DIMS))));
    expect(norm(raw.vectors[0]!)).not.toBeCloseTo(1, 2);
  });
});

describe('retries', () => {
  it('backs off exponentially with full jitter, up to the cap', async () => {
    fake.setFaults(() => ({ kind: 'status', status: 503 }));
    const { embedder, waits } = embedderFor({ max_retries: 3 }, { random: () => 0.999 });
    await expect(embedder.embed(['x'], 'document')).rejects.toThrow('gave up after 4 attempts');
    expect(waits).toEqual([249, 499, 999]);
    const capped = embedderFor({ max_retries: 3 }, { random: () => 0.999, retryCapMs: 300 });
    await expect(capped.embedder.embed(['x'], 'document')).rejects.toThrow();
    expect(capped.waits).toEqual([249, 299, 299]);
  });

  it('honours a real Retry-After: 1 with real time', async () => {
    fake.setFaults({ sequence: [{ kind: 'rate-limit', retryAfter: '1' }] });
    const { embedder } = embedderFor({}, { sleep: undefined });
    const started = Date.now();
    const result = await embedder.embed(['hello'], 'document');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.time - fake.requests[0]!.time).toBeGreaterThanOrEqual(950);
    expect(Array.from(result.vectors[0]!)).toEqual(unit('hello'));
  });

  it('gives up at once when Retry-After is longer than it is willing to wait', async () => {
    fake.setFaults({ sequence: [{ kind: 'rate-limit', retryAfter: '600' }] });
    const { embedder, waits } = embedderFor();
    const failure = embedder.embed(['hello'], 'document');
    await expect(failure).rejects.toBeInstanceOf(RateLimitedError);
    await expect(failure).rejects.toThrow('Retry-After 600000 ms exceeds the 120000 ms reembed waits');
    expect(fake.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('does not retry rejected credentials or requests', async () => {
    fake.setFaults(() => ({ kind: 'status', status: 401 }));
    await expect(embedderFor().embedder.embed(['x'], 'document')).rejects.toBeInstanceOf(ProviderAuthError);
    expect(fake.requests).toHaveLength(1);
    fake.setFaults(() => ({ kind: 'status', status: 400, body: '{"error":{"message":"model not found"}}' }));
    const failure = embedderFor().embedder.embed(['x'], 'document');
    await expect(failure).rejects.toBeInstanceOf(ProviderRejectedError);
    await expect(failure).rejects.toThrow('HTTP 400: model not found');
    expect(fake.requests).toHaveLength(2);
  });

  it('stops the other batches when one fails for good', async () => {
    fake.setFaults(() => ({ kind: 'status', status: 401 }));
    const { embedder } = embedderFor({ batch_size: 1, concurrency: 1 });
    await expect(embedder.embed(texts(5), 'document')).rejects.toBeInstanceOf(ProviderAuthError);
    expect(fake.requests).toHaveLength(1);
  });
});

describe('cancellation and timeouts', () => {
  it("stops at once when the caller's signal aborts, without retrying", async () => {
    // An answer that never comes within the test: only the abort can end the call, so reaching
    // the assertions at all shows it stopped at once (no clock threshold to miss on a busy machine).
    fake.setFaults(() => ({ kind: 'slow', delayMs: 3_600_000 }));
    const { embedder } = embedderFor({ timeout_ms: 3_600_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(embedder.embed(['x'], 'document', { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(fake.requests).toHaveLength(1);
    await expect(embedder.embed(['x'], 'document', { signal: AbortSignal.abort() })).rejects.toThrow();
    expect(fake.requests).toHaveLength(1);
  });

  it('times out a provider that ignores its signal', async () => {
    const hanging: ProviderClient = { provider: 'ollama', embedBatch: () => new Promise<never>(() => {}) };
    const profile = makeProfile({ provider: 'ollama', model: 'm', dims: 4, timeout_ms: 50, max_retries: 1 }, 'minilm');
    const embedder = new ResilientEmbedder(profile, hanging, { sleep: recordingSleep().sleep });
    await expect(embedder.embed(['x'], 'query')).rejects.toBeInstanceOf(ProviderTimeoutError);
  });
});

describe('response validation', () => {
  function scripted(results: ProviderBatchResult[]): ProviderClient & { calls: number } {
    const client = {
      provider: 'ollama' as const,
      calls: 0,
      embedBatch: () => Promise.resolve(results[Math.min(client.calls++, results.length - 1)]!),
    };
    return client;
  }
  const profile = makeProfile({ provider: 'ollama', model: 'm', dims: 3, max_retries: 5 }, 'minilm');
  const good = {
    vectors: [
      [1, 0, 0],
      [0, 2, 0],
      [0, 0, 3],
      [1, 1, 1],
    ],
  };

  it('names the profile and the mismatch, and retries a bad answer a bounded number of times', async () => {
    const client = scripted([{ vectors: good.vectors.slice(0, 3) }]);
    const embedder = new ResilientEmbedder(profile, client, { sleep: recordingSleep().sleep });
    const failure = embedder.embed(['a', 'b', 'c', 'd'], 'document');
    await expect(failure).rejects.toBeInstanceOf(InvalidResponseError);
    await expect(failure).rejects.toThrow(
      'profile minilm: provider returned 3 vectors for 4 inputs (gave up after 3 attempts)',
    );
    expect(client.calls).toBe(3);
  });

  it.each([
    ['Infinity', [1, Infinity, 0], 'provider returned Infinity at position 1 of the vector for input 2'],
    ['a string', [1, '2', 0], 'provider returned "2" at position 1 of the vector for input 2'],
    ['an overflowing norm', [1e200, 1e200, 0], 'provider returned values too large to use for input 2'],
    ['a missing vector', null, 'provider returned no vector for input 2'],
  ])('rejects %s and recovers when the next answer is good', async (_, bad, message) => {
    const vectors = [...good.vectors] as unknown[];
    vectors[2] = bad;
    const client = scripted([{ vectors: vectors as number[][] }, good]);
    const attempts: string[] = [];
    const embedder = new ResilientEmbedder(profile, client, {
      sleep: recordingSleep().sleep,
      onRetry: ({ error }) => attempts.push((error as Error).message),
    });
    const result = await embedder.embed(['a', 'b', 'c', 'd'], 'document');
    expect(attempts).toEqual([`profile minilm: ${message}`]);
    expect(Array.from(result.vectors[2]!)).toEqual([0, 0, 1]);
    expect(result.usage.tokens).toBe(4); // estimated: the scripted provider reports none
  });

  it('rejects values that overflow 32-bit floats when not normalizing', async () => {
    const raw = makeProfile({ provider: 'ollama', model: 'm', dims: 3, normalize: false, max_retries: 0 }, 'minilm');
    const embedder = new ResilientEmbedder(raw, scripted([{ vectors: [[1e39, 0, 0]] }]));
    await expect(embedder.embed(['a'], 'document')).rejects.toThrow(
      'profile minilm: provider returned values too large for 32-bit floats for input 0 (gave up after 1 attempt)',
    );
    const tiny = new ResilientEmbedder(raw, scripted([{ vectors: [[1e-50, 0, 0]] }]));
    await expect(tiny.embed(['a'], 'document')).rejects.toThrow('a vector that is zero in 32-bit floats');
  });
});

describe('custom provider clients', () => {
  it('runs a provider of your own inside the resilience layer', async () => {
    const { createEmbedder } = await import('../../src/embedders/create.js');
    const { buildManifest, getProfile } = await import('../../src/config/manifest.js');
    const profile = getProfile(
      buildManifest({ profiles: { mine: { provider: 'hash', dims: 3, batch_size: 2 } } }, null),
      'mine',
    );
    const calls: string[][] = [];
    const embedder = createEmbedder(profile, {
      provider: () => ({
        provider: 'hash',
        embedBatch: async (texts) => {
          calls.push(texts);
          return { vectors: texts.map((_, i) => (i === 0 ? [3, 4, 0] : [0, 0, 2])) };
        },
      }),
    });
    const result = await embedder.embed(['a', 'b', 'c'], 'document');
    expect(calls).toEqual([['a', 'b'], ['c']]);
    // Normalized by the layer: [3, 4, 0] → [0.6, 0.8, 0]; 'c' is first in its own batch.
    expect(Array.from(result.vectors[0]!)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0]);
    expect(Array.from(result.vectors[1]!)).toEqual([0, 0, 1]);
    expect(Array.from(result.vectors[2]!)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0]);
  });
});
