/**
 * Typed errors of the embedding layer. Every message starts with the profile name, because a
 * migration runs two profiles side by side and an error that does not say which one is useless.
 *
 * Retry policy lives in the type: rate limits, unavailable providers and malformed responses
 * are worth another attempt; bad input, rejected requests and bad credentials are not.
 */
import { ReembedError, type ReembedErrorCode } from '../errors.js';

interface ErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

/** Base class: every embedding error names its profile. */
export class EmbedderError extends ReembedError {
  readonly profile: string;
  constructor(code: ReembedErrorCode, profile: string, message: string, options: ErrorOptions = {}) {
    super(code, `profile ${profile}: ${message}`, { exitCode: 1, cause: options.cause, details: options.details });
    this.profile = profile;
  }
}

/** HTTP 429: the provider asks us to slow down, possibly saying for how long. */
export class RateLimitedError extends EmbedderError {
  readonly retryAfterMs?: number;
  constructor(profile: string, message: string, options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super('RATE_LIMITED', profile, message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** 5xx, refused or reset connections, timeouts: the provider may well answer next time. */
export class ProviderUnavailableError extends EmbedderError {
  readonly retryAfterMs?: number;
  readonly status?: number;
  constructor(
    profile: string,
    message: string,
    options: ErrorOptions & { retryAfterMs?: number; status?: number } = {},
  ) {
    super('PROVIDER_UNAVAILABLE', profile, message, options);
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/** A request that got no answer within the profile's timeout_ms. */
export class ProviderTimeoutError extends ProviderUnavailableError {
  readonly timeoutMs: number;
  constructor(profile: string, timeoutMs: number) {
    super(profile, `provider did not answer within ${timeoutMs} ms (timeout_ms)`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The provider answered, but not with usable vectors: malformed JSON, wrong count, wrong
 * dimensions, NaN or infinite numbers, a zero vector. Such an answer never yields a vector.
 */
export class InvalidResponseError extends EmbedderError {
  constructor(profile: string, message: string, options: ErrorOptions = {}) {
    super('INVALID_RESPONSE', profile, message, options);
  }
}

/** An input over max_input_tokens with `on_too_long: fail`. */
export class InputTooLongError extends EmbedderError {
  readonly index: number;
  readonly tokens: number;
  readonly maxTokens: number;
  constructor(profile: string, index: number, tokens: number, maxTokens: number) {
    super(
      'INPUT_TOO_LONG',
      profile,
      `input ${index} has ${tokens} tokens, more than max_input_tokens ${maxTokens} (on_too_long: fail)`,
      { details: { index, tokens, maxTokens } },
    );
    this.index = index;
    this.tokens = tokens;
    this.maxTokens = maxTokens;
  }
}

/** An input with nothing to embed; embedding it would give a meaningless (or zero) vector. */
export class EmptyInputError extends EmbedderError {
  readonly index: number;
  readonly reason: string;
  constructor(profile: string, index: number, reason = 'is empty or whitespace only') {
    super('EMPTY_INPUT', profile, `input ${index} ${reason}`, { details: { index } });
    this.index = index;
    this.reason = reason;
  }

  /** The same error for a batch that starts at `offset` in the caller's input list. */
  shifted(offset: number): EmptyInputError {
    return offset === 0 ? this : new EmptyInputError(this.profile, this.index + offset, this.reason);
  }
}

/** HTTP 401/403: retrying with the same credentials cannot help. */
export class ProviderAuthError extends EmbedderError {
  readonly status: number;
  constructor(profile: string, status: number, message: string, options: ErrorOptions = {}) {
    super('PROVIDER_AUTH', profile, message, options);
    this.status = status;
  }
}

/** Any other 4xx: the provider refused this request (unknown model, bad parameter, input too long). */
export class ProviderRejectedError extends EmbedderError {
  readonly status: number;
  constructor(profile: string, status: number, message: string, options: ErrorOptions = {}) {
    super('PROVIDER_REJECTED', profile, message, options);
    this.status = status;
  }
}

export function isRetryable(error: unknown): boolean {
  return (
    error instanceof RateLimitedError ||
    error instanceof ProviderUnavailableError ||
    error instanceof InvalidResponseError
  );
}

/** How long the provider asked us to wait before the next attempt, when it said so. */
export function retryAfterOf(error: unknown): number | undefined {
  if (error instanceof RateLimitedError || error instanceof ProviderUnavailableError) return error.retryAfterMs;
  return undefined;
}
