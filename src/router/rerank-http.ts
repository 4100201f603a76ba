/**
 * The `http` reranker: `POST {base_url}/rerank` with `{model, query, documents, top_n}`, answered
 * by `{results: [{index, relevance_score}]}` (the wire format of Cohere-, Jina- and
 * text-embeddings-inference-compatible servers). Statuses, Retry-After and network failures
 * become the embedders' typed errors (embedders/http.ts), retried with the same backoff; the
 * answer is validated, so a bad one is an InvalidResponseError, never a wrong order.
 */
import { z } from 'zod';
import type { RerankSettings } from '../config/rerank.js';
import { backoffDelay } from '../backoff.js';
import { ConfigError } from '../errors.js';
import {
  InvalidResponseError,
  isRetryable,
  ProviderTimeoutError,
  RateLimitedError,
  retryAfterOf,
} from '../embedders/errors.js';
import { RateLimiter } from '../embedders/rate-limiter.js';
import { errorForStatus, formatIssuePath, isAbortError, networkError } from '../embedders/http.js';
import { abortableSleep, type Sleep } from '../embedders/sleep.js';

const answerSchema = z.object({
  results: z.array(
    z.object({
      index: z.number().int(),
      relevance_score: z.number().refine(Number.isFinite, 'must be a finite number'),
    }),
  ),
});

export interface HttpRerankerOptions {
  env?: Record<string, string | undefined>;
  fetch?: typeof globalThis.fetch;
  sleep?: Sleep;
  random?: () => number;
  /** The rate limit's clock (ms). */
  now?: () => number;
}

export class HttpReranker {
  private readonly url: string;
  private readonly apiKey: string | undefined;
  private readonly fetch: typeof globalThis.fetch;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  /** rate_limit.rpm, when set: one per process (per profile's stage). */
  private readonly limiter: RateLimiter | null;

  constructor(
    /** The profile the stage belongs to: errors name it. */
    private readonly profile: string,
    private readonly settings: RerankSettings,
    options: HttpRerankerOptions = {},
  ) {
    if (!settings.base_url || !settings.model)
      throw new ConfigError(`profile ${profile}: rerank provider http needs base_url and model`);
    this.url = `${settings.base_url.replace(/\/+$/, '')}/rerank`;
    const env = options.env ?? process.env;
    if (settings.api_key_env && !env[settings.api_key_env])
      throw new ConfigError(
        `profile ${profile}: rerank api_key_env ${settings.api_key_env} is not set in the environment`,
      );
    this.apiKey = settings.api_key_env ? env[settings.api_key_env] : undefined;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    this.limiter = settings.rate_limit
      ? new RateLimiter({ rpm: settings.rate_limit.rpm }, { now: options.now, sleep: this.sleep })
      : null;
  }

  /**
   * Whether a rerank may start now under rate_limit (it takes the request if so). A search does
   * not wait for the limit: refused, it is served in the retrieval order.
   */
  async admit(): Promise<boolean> {
    return this.limiter ? this.limiter.tryAcquire(0, 0) : true;
  }

  /**
   * The documents' indexes, most relevant first (every index once: those the server left out
   * follow in their retrieval order). Retries within timeout_ms, which bounds the whole call.
   */
  async rerank(query: string, documents: readonly string[]): Promise<number[]> {
    const budget = this.settings.timeout_ms;
    const deadline = AbortSignal.timeout(budget);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(query, documents, deadline);
      } catch (error) {
        const failure =
          deadline.aborted && isAbortError(error) ? new ProviderTimeoutError(this.profile, budget) : error;
        const retryAfter = retryAfterOf(failure);
        // The server's Retry-After holds back every rerank of this process, not this one alone.
        if (retryAfter !== undefined && failure instanceof RateLimitedError) this.limiter?.pause(retryAfter);
        if (attempt > this.settings.max_retries || !isRetryable(failure) || deadline.aborted) throw failure;
        const wait = retryAfter ?? backoffDelay(attempt, 50, 1000, this.random);
        try {
          await this.sleep(wait, deadline);
        } catch {
          throw new ProviderTimeoutError(this.profile, budget);
        }
        // A retry is a request too: under rate_limit it goes only if it may start now (a few ms
        // of slack: the wait above may end a timer tick before the Retry-After pause does).
        if (this.limiter && !(await this.limiter.tryAcquire(0, 20, deadline))) throw failure;
      }
    }
  }

  private async once(query: string, documents: readonly string[], signal: AbortSignal): Promise<number[]> {
    let response: Response;
    try {
      response = await this.fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: JSON.stringify({ model: this.settings.model, query, documents, top_n: documents.length }),
        signal,
      });
    } catch (error) {
      if (isAbortError(error)) throw error;
      throw networkError(this.profile, this.url, error);
    }
    const body = await response.text();
    if (!response.ok) throw errorForStatus(this.profile, response.status, response.headers, body);
    return validOrder(this.profile, body, documents.length);
  }
}

/** The order an answer gives: indexes in range and unique, scores finite. */
export function validOrder(profile: string, body: string, n: number): number[] {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new InvalidResponseError(profile, 'reranker answered with a body that is not JSON');
  }
  const parsed = answerSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidResponseError(profile, `reranker answer ${formatIssuePath(issue.path)}: ${issue.message}`);
  }
  const seen = new Set<number>();
  const ranked = [...parsed.data.results].sort((a, b) => b.relevance_score - a.relevance_score);
  for (const r of ranked) {
    if (r.index < 0 || r.index >= n)
      throw new InvalidResponseError(profile, `reranker answered index ${r.index}, outside 0..${n - 1}`);
    if (seen.has(r.index)) throw new InvalidResponseError(profile, `reranker answered index ${r.index} twice`);
    seen.add(r.index);
  }
  const order = ranked.map((r) => r.index);
  for (let i = 0; i < n; i++) if (!seen.has(i)) order.push(i);
  return order;
}
