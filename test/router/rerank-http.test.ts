import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rerankSchema } from '../../src/config/rerank.js';
import {
  InvalidResponseError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  RateLimitedError,
} from '../../src/embedders/errors.js';
import { ConfigError } from '../../src/errors.js';
import { HttpReranker, validOrder } from '../../src/router/rerank-http.js';
import { reverseOrder, startFakeReranker, type FakeReranker } from '../helpers/fake-reranker.js';

const noSleep = async () => {};

describe('the http reranker', () => {
  let fake: FakeReranker;
  beforeEach(async () => {
    fake = await startFakeReranker();
  });
  afterEach(() => fake.close());

  const reranker = (extra: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
    new HttpReranker('p', rerankSchema.parse({ provider: 'http', base_url: fake.url, model: 'rr-1', ...extra }), {
      sleep: noSleep,
      env,
    });

  it('posts model, query, documents and top_n, with the key, and returns the server order', async () => {
    const order = await reranker({ api_key_env: 'RR_KEY' }, { RR_KEY: 'sekrit' }).rerank('q', ['a', 'b', 'c']);
    expect(order).toEqual(reverseOrder(3));
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.body).toEqual({ model: 'rr-1', query: 'q', documents: ['a', 'b', 'c'], top_n: 3 });
    expect(fake.requests[0]!.authorization).toBe('Bearer sekrit');
  });

  it('retries a 500 within max_retries, then succeeds', async () => {
    fake.faults = [{ kind: 'status', status: 500 }];
    expect(await reranker({ max_retries: 1 }).rerank('q', ['a', 'b'])).toEqual([1, 0]);
    expect(fake.requests).toHaveLength(2);
  });

  it('a 500 past the retries is ProviderUnavailableError', async () => {
    fake.always = { kind: 'status', status: 500 };
    await expect(reranker({ max_retries: 1 }).rerank('q', ['a'])).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(fake.requests).toHaveLength(2);
  });

  it.each([
    ['malformed-json', /not JSON/],
    ['out-of-range', /outside 0\.\.2/],
    ['duplicate-index', /twice/],
    ['non-finite', /relevance_score/],
  ] as const)('a %s answer is an InvalidResponseError', async (kind, message) => {
    fake.always = { kind };
    const error = await reranker({ max_retries: 0 })
      .rerank('q', ['a', 'b', 'c'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect((error as Error).message).toMatch(message);
  });

  it('admits requests under rate_limit.rpm without waiting, and holds all back for a Retry-After', async () => {
    let now = 1_000_000;
    const limited = new HttpReranker(
      'p',
      rerankSchema.parse({
        provider: 'http',
        base_url: fake.url,
        model: 'rr-1',
        rate_limit: { rpm: 2 },
        max_retries: 1,
      }),
      { sleep: noSleep, now: () => now },
    );
    // 2 a minute: one now (the burst is a second's worth), the next 30 s later.
    expect(await limited.admit()).toBe(true);
    expect(await limited.admit()).toBe(false);
    now += 29_000;
    expect(await limited.admit()).toBe(false);
    now += 1_000;
    expect(await limited.admit()).toBe(true);
    // A 429 saying Retry-After: 5 holds every request back 5 s: the retry is not sent, the
    // error is the server's, and nothing is admitted before the 5 s are over.
    now += 60_000;
    fake.faults = [{ kind: 'status', status: 429, retryAfter: '5' }];
    await expect(limited.rerank('q', ['a', 'b'])).rejects.toBeInstanceOf(RateLimitedError);
    expect(fake.requests).toHaveLength(1);
    expect(await limited.admit()).toBe(false);
    now += 5_000;
    expect(await limited.admit()).toBe(true);
  });

  it('a server slower than timeout_ms is ProviderTimeoutError', async () => {
    fake.always = { kind: 'slow', delayMs: 30_000 };
    await expect(reranker({ timeout_ms: 100, max_retries: 0 }).rerank('q', ['a'])).rejects.toBeInstanceOf(
      ProviderTimeoutError,
    );
  });

  it('refuses settings without base_url and a key variable that is not set', () => {
    expect(() => rerankSchema.parse({ provider: 'http', model: 'm' })).toThrow(/base_url and model/);
    expect(() => reranker({ api_key_env: 'RR_MISSING' })).toThrow(ConfigError);
  });

  it('puts documents the server left out after the ranked ones, in their order', () => {
    expect(validOrder('p', JSON.stringify({ results: [{ index: 2, relevance_score: 0.9 }] }), 4)).toEqual([2, 0, 1, 3]);
    expect(
      validOrder(
        'p',
        JSON.stringify({
          results: [
            { index: 0, relevance_score: 0.1 },
            { index: 1, relevance_score: 0.7 },
          ],
        }),
        2,
      ),
    ).toEqual([1, 0]);
  });
});
