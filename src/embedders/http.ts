/**
 * HTTP status and header handling shared by the HTTP providers, so that every provider turns
 * the same answer into the same typed error.
 */
import type { z } from 'zod';
import type { Profile } from '../config/profile.js';
import { ConfigError } from '../errors.js';
import {
  EmbedderError,
  ProviderAuthError,
  ProviderRejectedError,
  ProviderUnavailableError,
  RateLimitedError,
} from './errors.js';

export type HeaderBag = Headers | Record<string, string | undefined> | undefined;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers === undefined) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  return headers[name] ?? headers[name.toLowerCase()];
}

/**
 * Milliseconds to wait, from `retry-after-ms` (sent by OpenAI and Azure) or `Retry-After`,
 * which RFC 9110 allows as delay-seconds or as an HTTP date. Unparseable values are ignored
 * rather than trusted: the caller falls back to its own backoff.
 */
export function parseRetryAfter(headers: HeaderBag, now: number = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = header(headers, 'retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  // Date.parse accepts bare numbers such as "-3" as years: an HTTP date always has a day name.
  const date = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** At most this much of an error body goes into a message: enough to read, not a whole page. */
const BODY_EXCERPT = 300;

function excerpt(body: string | undefined): string {
  const text = (body ?? '').replace(/\s+/g, ' ').trim();
  if (!text) return '';
  return `: ${text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}…` : text}`;
}

/** The typed error for a non-2xx answer. */
export function errorForStatus(
  profile: string,
  status: number,
  headers: HeaderBag,
  body: string | undefined,
  cause?: unknown,
): EmbedderError {
  const retryAfterMs = parseRetryAfter(headers);
  const detail = excerpt(body);
  if (status === 429) {
    const wait = retryAfterMs === undefined ? '' : ` (Retry-After ${retryAfterMs} ms)`;
    return new RateLimitedError(profile, `provider rate limit hit, HTTP 429${wait}${detail}`, { retryAfterMs, cause });
  }
  if (status === 401 || status === 403) {
    return new ProviderAuthError(
      profile,
      status,
      `provider refused the credentials, HTTP ${status}${detail} (check api_key_env)`,
      { cause },
    );
  }
  // 408 and 409 are transient by definition; everything else in 4xx is about the request itself.
  if (status >= 500 || status === 408 || status === 409) {
    return new ProviderUnavailableError(profile, `provider unavailable, HTTP ${status}${detail}`, {
      status,
      retryAfterMs,
      cause,
    });
  }
  return new ProviderRejectedError(profile, status, `provider rejected the request, HTTP ${status}${detail}`, {
    cause,
  });
}

function errorChain(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${current.message} (${code})` : current.message);
  }
  return parts.join(': ');
}

/** `data[0].embedding[7]`, from a schema issue's path. */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}

/** The first problem of a response that failed its schema, e.g. `embeddings[3]: Expected number`. */
export function shapeProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? `${formatIssuePath(issue.path)}: ` : '';
  return `${where}${issue?.message ?? 'invalid'}`;
}

/** A request that never got an HTTP answer: refused, reset, DNS failure. */
export function networkError(profile: string, url: string, error: unknown): ProviderUnavailableError {
  return new ProviderUnavailableError(profile, `cannot reach provider at ${url}: ${errorChain(error)}`, {
    cause: error,
  });
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

export interface HttpProviderOptions {
  /** Where api_key_env is looked up (default process.env). */
  env?: Record<string, string | undefined>;
  fetch?: typeof globalThis.fetch;
}

export type ProviderProfile = Pick<
  Profile,
  'name' | 'provider' | 'model' | 'dims' | 'base_url' | 'api_key_env' | 'send_dimensions' | 'on_too_long' | 'batch_size'
>;

/** The API key named by api_key_env; naming a variable that is not set is a configuration error. */
export function apiKeyFor(profile: ProviderProfile, env: Record<string, string | undefined>): string | undefined {
  if (!profile.api_key_env) return undefined;
  const key = env[profile.api_key_env];
  if (!key) {
    throw new ConfigError(`profile ${profile.name}: api_key_env ${profile.api_key_env} is not set in the environment`);
  }
  return key;
}

export function requireSetting<T>(profile: ProviderProfile, value: T | undefined, what: string): T {
  if (value === undefined || value === '') {
    throw new ConfigError(`profile ${profile.name}: provider ${profile.provider} needs ${what}`);
  }
  return value;
}
