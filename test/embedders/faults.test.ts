/**
 * Every provider fault, on both wire formats: one occurrence is retried and yields correct
 * vectors; a persistent one ends in the right typed error, after the right number of requests,
 * and never in a vector.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProfileInput } from '../../src/config/profile.js';
import { createEmbedder, type CreateEmbedderOptions } from '../../src/embedders/create.js';
import {
  InvalidResponseError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  RateLimitedError,
} from '../../src/embedders/errors.js';
import { fakeVector, startFakeProvider, type FakeProvider, type Fault } from '../helpers/fake-provider.js';
import { makeProfile, recordingSleep } from './profile-helper.js';
import { scaled } from '../helpers/slowdown.js';

const DIMS = 8;
const TEXTS = ['first text', 'second text', 'third text'];

function expected(text: string): number[] {
  const v = fakeVector(text, DIMS);
  const n = Math.hypot(...v);
  return Array.from(Float32Array.from(v, (x) => x / n));
}

interface Case {
  name: string;
  fault: Fault;
  error: new (...args: never[]) => Error;
  message: RegExp;
  /** Requests a persistent fault takes with max_retries 3 (malformed answers get 2 retries only). */
  requests: number;
  /** A wait the embedder must have honoured, in ms. */
  waitsAtLeast?: number;
}

const cases: Case[] = [
  {
    name: '429 with Retry-After',
    fault: { kind: 'rate-limit', retryAfter: '2' },
    error: RateLimitedError,
    message: /^profile minilm: provider rate limit hit, HTTP 429 \(Retry-After 2000 ms\)/,
    requests: 4,
    waitsAtLeast: 2000,
  },
  {
    name: '500',
    fault: { kind: 'status', status: 500 },
    error: ProviderUnavailableError,
    message: /HTTP 500: fake status 500/,
    requests: 4,
  },
  {
    name: '502',
    fault: { kind: 'status', status: 502 },
    error: ProviderUnavailableError,
    message: /HTTP 502/,
    requests: 4,
  },
  {
    name: '503 with Retry-After',
    fault: { kind: 'status', status: 503, retryAfter: '3' },
    error: ProviderUnavailableError,
    message: /HTTP 503/,
    requests: 4,
    waitsAtLeast: 3000,
  },
  {
    name: '504 with a non-JSON body',
    fault: { kind: 'status', status: 504, body: '<html>gateway timeout</html>' },
    error: ProviderUnavailableError,
    message: /HTTP 504/,
    requests: 4,
  },
  {
    name: 'connection reset',
    fault: { kind: 'reset' },
    error: ProviderUnavailableError,
    message: /cannot reach provider at http:\/\/127\.0\.0\.1:\d+\//,
    requests: 4,
  },
  {
    name: 'response slower than timeout_ms',
    // Stretched to ten times the measured timeout by slowed() below.
    fault: { kind: 'slow', delayMs: 0 },
    error: ProviderTimeoutError,
    message: /provider did not answer within \d+ ms \(timeout_ms\)/,
    requests: 4,
  },
  {
    name: 'malformed JSON',
    fault: { kind: 'malformed-json' },
    error: InvalidResponseError,
    message: /malformed response: .*not valid JSON/,
    requests: 3,
  },
  {
    name: 'a literal NaN in the JSON',
    fault: { kind: 'nan' },
    error: InvalidResponseError,
    message: /malformed response: .*not valid JSON/,
    requests: 3,
  },
  {
    name: 'a null entry in a vector',
    fault: { kind: 'null-entry' },
    error: InvalidResponseError,
    message: /malformed response: .*embedding(s)?.*expected number, received null/,
    requests: 3,
  },
  {
    name: 'wrong dimensions',
    fault: { kind: 'wrong-dims', dims: 5 },
    error: InvalidResponseError,
    message: /provider returned 5 dimensions for input 0, expected 8 \(profile dims\)/,
    requests: 3,
  },
  {
    name: 'fewer vectors than inputs',
    fault: { kind: 'fewer-vectors' },
    error: InvalidResponseError,
    message: /^profile minilm: provider returned 2 vectors for 3 inputs/,
    requests: 3,
  },
  {
    name: 'a zero vector',
    fault: { kind: 'zero-vector' },
    error: InvalidResponseError,
    message: /provider returned a zero vector for input 0/,
    requests: 3,
  },
];

describe.each(['openai-compatible', 'ollama'] as const)('%s provider faults', (provider) => {
  let fake: FakeProvider;
  /**
   * The provider timeout of these tests: 200 ms, or twenty times the slowest of a few healthy
   * round trips on this machine now, if more (and scaled by REEMBED_TEST_SLOWDOWN), so a loaded
   * machine's slow answer is never taken for the `slow` fault, which takes ten times this.
   */
  let timeoutMs = 200;
  const slowed = (f: Fault): Fault => (f.kind === 'slow' ? { kind: 'slow', delayMs: 10 * timeoutMs } : f);
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: DIMS });
    const probe = createEmbedder(
      makeProfile(
        { provider, model: 'fake-model', dims: DIMS, base_url: provider === 'ollama' ? fake.url : fake.openaiUrl },
        'minilm',
      ),
    );
    // The first call loads the tokenizer (a second or so); it is no round trip.
    await probe.embed(TEXTS, 'document');
    let worst = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await probe.embed(TEXTS, 'document');
      worst = Math.max(worst, performance.now() - t0);
    }
    timeoutMs = scaled(Math.max(200, Math.ceil(20 * worst)));
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.setFaults(undefined);
  });

  function embedder(overrides: Partial<ProfileInput> = {}, options: CreateEmbedderOptions = {}) {
    const recorder = recordingSleep();
    const profile = makeProfile(
      {
        provider,
        model: 'fake-model',
        dims: DIMS,
        base_url: provider === 'ollama' ? fake.url : fake.openaiUrl,
        timeout_ms: timeoutMs,
        max_retries: 3,
        ...overrides,
      },
      'minilm',
    );
    return {
      embedder: createEmbedder(profile, { sleep: recorder.sleep, random: () => 0.5, ...options }),
      waits: recorder.waits,
    };
  }

  it.each(cases)('retries once after $name and returns correct vectors', async (c) => {
    fake.setFaults({ sequence: [slowed(c.fault)] });
    const { embedder: e, waits } = embedder();
    const result = await e.embed(TEXTS, 'document');
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]!.fault).toBe(c.fault.kind);
    expect(fake.requests[1]!.inputs).toEqual(TEXTS);
    expect(result.vectors.map((v) => Array.from(v))).toEqual(TEXTS.map(expected));
    expect(waits.length).toBeGreaterThan(0);
    if (c.waitsAtLeast !== undefined) expect(waits[0]).toBeGreaterThanOrEqual(c.waitsAtLeast);
  });

  it.each(cases)('fails with a typed error when $name persists', async (c) => {
    fake.setFaults(() => slowed(c.fault));
    const { embedder: e } = embedder();
    const failure = e.embed(TEXTS, 'document');
    await expect(failure).rejects.toBeInstanceOf(c.error);
    await expect(failure).rejects.toThrow(c.message);
    await expect(failure).rejects.toThrow(/gave up after \d attempts/);
    expect(fake.requests).toHaveLength(c.requests);
  });

  it('returns only correct vectors under 20% random faults of every kind', async () => {
    const faults = cases.map((c) =>
      c.fault.kind === 'slow' ? { kind: 'slow' as const, delayMs: 2 * timeoutMs } : c.fault,
    );
    // Retry-After values of seconds would only make the test slow; the plain 429 keeps the kind.
    fake.setFaults({
      random: {
        rate: 0.2,
        faults: faults.map((f) => (f.kind === 'rate-limit' ? { kind: 'rate-limit' as const } : f)),
        seed: 7,
      },
    });
    const input = Array.from({ length: 120 }, (_, i) => `document number ${i}`);
    // Which batch meets which fault depends on timing: allow enough retries that none runs out.
    const { embedder: e } = embedder(
      { batch_size: 4, concurrency: 4, max_retries: 8 },
      { maxInvalidResponseRetries: 8 },
    );
    const result = await e.embed(input, 'document');
    expect(result.vectors.map((v) => Array.from(v))).toEqual(input.map(expected));
    const injected = fake.requests.filter((r) => r.fault !== undefined);
    expect(injected.length).toBeGreaterThan(3);
    expect(fake.requests).toHaveLength(30 + injected.length);
  });
});
