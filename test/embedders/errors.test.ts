import { describe, expect, it } from 'vitest';
import { ReembedError } from '../../src/errors.js';
import {
  EmptyInputError,
  InputTooLongError,
  InvalidResponseError,
  ProviderAuthError,
  ProviderRejectedError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  RateLimitedError,
  isRetryable,
  retryAfterOf,
} from '../../src/embedders/errors.js';
import { errorForStatus, parseRetryAfter } from '../../src/embedders/http.js';

describe('Retry-After parsing', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delay-seconds, HTTP dates and retry-after-ms', () => {
    expect(parseRetryAfter({ 'retry-after': '5' }, now)).toBe(5000);
    expect(parseRetryAfter({ 'retry-after': ' 1.5 ' }, now)).toBe(1500);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }, now)).toBe(7000);
    expect(parseRetryAfter(new Headers({ 'Retry-After': '2' }), now)).toBe(2000);
    expect(parseRetryAfter({ 'retry-after-ms': '350', 'retry-after': '9' }, now)).toBe(350);
  });

  it('ignores what it cannot trust', () => {
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': '-3' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, now)).toBe(0);
  });
});

describe('HTTP status mapping', () => {
  it('maps each status class to its typed error', () => {
    const limited = errorForStatus('minilm', 429, { 'retry-after': '3' }, 'slow down');
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(retryAfterOf(limited)).toBe(3000);
    expect(limited.message).toBe('profile minilm: provider rate limit hit, HTTP 429 (Retry-After 3000 ms): slow down');
    for (const status of [500, 502, 503, 504, 408]) {
      expect(errorForStatus('minilm', status, {}, '')).toBeInstanceOf(ProviderUnavailableError);
    }
    expect(retryAfterOf(errorForStatus('minilm', 503, { 'retry-after': '2' }, ''))).toBe(2000);
    expect(errorForStatus('minilm', 401, {}, 'bad key')).toBeInstanceOf(ProviderAuthError);
    expect(errorForStatus('minilm', 403, {}, '')).toBeInstanceOf(ProviderAuthError);
    expect(errorForStatus('minilm', 400, {}, 'unknown model')).toBeInstanceOf(ProviderRejectedError);
    expect(errorForStatus('minilm', 404, {}, '').message).toContain('HTTP 404');
  });

  it('keeps long error bodies out of messages', () => {
    const error = errorForStatus('minilm', 500, {}, 'x'.repeat(10_000));
    expect(error.message.length).toBeLessThan(400);
  });
});

describe('embedding errors', () => {
  it('are ReembedErrors with codes, exit code 1 and the profile in the message', () => {
    const errors: [ReembedError, string][] = [
      [new RateLimitedError('p', 'x'), 'RATE_LIMITED'],
      [new ProviderUnavailableError('p', 'x'), 'PROVIDER_UNAVAILABLE'],
      [new ProviderTimeoutError('p', 1000), 'PROVIDER_UNAVAILABLE'],
      [new InvalidResponseError('p', 'x'), 'INVALID_RESPONSE'],
      [new InputTooLongError('p', 2, 900, 512), 'INPUT_TOO_LONG'],
      [new EmptyInputError('p', 0), 'EMPTY_INPUT'],
      [new ProviderAuthError('p', 401, 'x'), 'PROVIDER_AUTH'],
      [new ProviderRejectedError('p', 400, 'x'), 'PROVIDER_REJECTED'],
    ];
    for (const [error, code] of errors) {
      expect(error).toBeInstanceOf(ReembedError);
      expect(error.code).toBe(code);
      expect(error.exitCode).toBe(1);
      expect(error.message.startsWith('profile p: ')).toBe(true);
    }
    expect(new InputTooLongError('p', 2, 900, 512).message).toBe(
      'profile p: input 2 has 900 tokens, more than max_input_tokens 512 (on_too_long: fail)',
    );
    expect(new ProviderTimeoutError('p', 1000).message).toBe(
      'profile p: provider did not answer within 1000 ms (timeout_ms)',
    );
  });

  it('are retryable only when another attempt can help', () => {
    expect(isRetryable(new RateLimitedError('p', 'x'))).toBe(true);
    expect(isRetryable(new ProviderUnavailableError('p', 'x'))).toBe(true);
    expect(isRetryable(new ProviderTimeoutError('p', 5))).toBe(true);
    expect(isRetryable(new InvalidResponseError('p', 'x'))).toBe(true);
    expect(isRetryable(new ProviderAuthError('p', 401, 'x'))).toBe(false);
    expect(isRetryable(new ProviderRejectedError('p', 400, 'x'))).toBe(false);
    expect(isRetryable(new InputTooLongError('p', 0, 2, 1))).toBe(false);
    expect(isRetryable(new EmptyInputError('p', 0))).toBe(false);
    expect(isRetryable(new TypeError('bug'))).toBe(false);
  });
});
