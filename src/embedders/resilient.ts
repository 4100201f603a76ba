/**
 * The resilience layer: everything between "embed these texts" and one provider request.
 * Prefixes, input checks and truncation, batching by count and tokens, a concurrency limit,
 * client-side rate limits, per-request timeouts, retries with backoff that honours Retry-After,
 * and validation of every vector, so no NaN, wrong-dimension or zero vector ever leaves here.
 * It is the same for every provider, so providers stay one request long.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Profile } from '../config/profile.js';
import type { EmbedImage, EmbedOptions, EmbedPurpose, EmbedResult, Embedder } from './embedder.js';
import { ConfigError } from '../errors.js';
import {
  EmptyInputError,
  InputTooLongError,
  InvalidResponseError,
  ProviderTimeoutError,
  isRetryable,
  retryAfterOf,
} from './errors.js';
import type { ProviderBatchResult, ProviderClient } from './provider.js';
import { RateLimiter } from './rate-limiter.js';
import { abortableSleep, type Sleep } from './sleep.js';
import { approximateTokens, bytesBound, estimateTokens, tokenCounterFor, type TokenCounter } from './tokens.js';
import { backoffDelay } from '../backoff.js';

export interface RetryEvent {
  /** The attempt that failed, from 1. */
  attempt: number;
  error: unknown;
  /** How long the embedder waits before the next attempt. */
  delayMs: number;
}

export interface ResilientOptions {
  /** Waits between attempts and for rate limits; tests inject a recorder. */
  sleep?: Sleep;
  /** Source of backoff jitter in [0, 1). */
  random?: () => number;
  /** Clock of the rate limiter. */
  now?: () => number;
  /** Overrides the token counter chosen for the provider. */
  tokenCounter?: TokenCounter;
  /**
   * Loads the provider's exact token counter when a text needs one (default: cl100k_base, or
   * the chars/4 approximation for the hash provider). Tests count the calls.
   */
  loadTokenCounter?: () => Promise<TokenCounter>;
  /** First backoff ceiling (default 250 ms); it doubles per attempt up to retryCapMs. */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Malformed responses are retried at most this often per batch (default 2), within max_retries. */
  maxInvalidResponseRetries?: number;
  /** A Retry-After longer than this (default 2 minutes) fails the batch instead of stalling it. */
  maxRetryAfterMs?: number;
  onRetry?: (event: RetryEvent) => void;
  /** A rate limiter to use instead of one built from the profile (a worker adjusts it live). */
  limiter?: RateLimiter;
}

type ProfileSettings = Pick<
  Profile,
  | 'name'
  | 'dims'
  | 'normalize'
  | 'query_prefix'
  | 'document_prefix'
  | 'max_input_tokens'
  | 'on_too_long'
  | 'batch_size'
  | 'batch_tokens'
  | 'concurrency'
  | 'rate_limit'
  | 'timeout_ms'
  | 'max_retries'
> &
  Partial<Pick<Profile, 'tokenizer' | 'batch_bytes'>>;

/** Image bytes per request when a profile does not say (the profile default). */
const DEFAULT_BATCH_BYTES = 8 * 1024 * 1024;

/** One input, prefixed, within the limit, and what is known about its tokens. */
interface Input {
  text: string;
  image?: EmbedImage;
  /** An upper bound on its tokens (exact when counted), for batch_tokens and tpm. */
  bound: number;
  /** Its tokens for reports: counted, or estimated when `estimated`. */
  tokens: number;
  estimated: boolean;
}

interface Batch {
  /** Index of the batch's first text in the caller's list. */
  offset: number;
  texts: string[];
  /** One entry per text when the call had images, else undefined. */
  images?: (EmbedImage | undefined)[];
  /** Sum of the images' bytes: what batch_bytes limits. */
  bytes: number;
  /** Sum of the inputs' bounds: what batch_tokens limits and the tpm limiter reserves. */
  bound: number;
  /** Sum of the inputs' counted or estimated tokens, and the estimated part of it. */
  tokens: number;
  estimatedTokens: number;
}

interface BatchResult {
  vectors: Float32Array[];
  tokens: number;
  estimatedTokens: number;
}

export class ResilientEmbedder implements Embedder {
  readonly profile: string;
  readonly dims: number;
  private readonly settings: ProfileSettings;
  private readonly provider: ProviderClient;
  /** Shared by all calls, so concurrent embed() calls together stay within `concurrency`. */
  private readonly limit: LimitFunction;
  private readonly limiter: RateLimiter;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly options: ResilientOptions;
  private counter?: TokenCounter;

  constructor(profile: ProfileSettings, provider: ProviderClient, options: ResilientOptions = {}) {
    this.profile = profile.name;
    this.dims = profile.dims;
    this.settings = profile;
    this.provider = provider;
    this.options = options;
    this.limit = pLimit(profile.concurrency);
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    this.limiter = options.limiter ?? new RateLimiter(profile.rate_limit, { now: options.now, sleep: this.sleep });
    this.counter = options.tokenCounter;
  }

  async embed(texts: string[], purpose: EmbedPurpose, options: EmbedOptions = {}): Promise<EmbedResult> {
    options.signal?.throwIfAborted();
    const images = options.images;
    if (images !== undefined && images.length !== texts.length) {
      throw new Error(`embed(): ${images.length} images for ${texts.length} texts (one entry per text)`);
    }
    if (images?.some((image) => image != null) && !this.provider.acceptsImages) {
      throw new ConfigError(
        `profile ${this.profile}: provider ${this.provider.provider} does not embed images (use hash-image or multimodal)`,
      );
    }
    const { inputs, truncated } = await this.prepare(texts, purpose, images);
    if (inputs.length > 0) await this.provider.prepare?.();
    const vectors = new Array<Float32Array>(texts.length);
    let tokens = 0;
    let estimatedTokens = 0;
    // The first batch that fails for good cancels the others: their vectors would be thrown away.
    const failed = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
    await Promise.all(
      this.split(inputs, images !== undefined).map((batch) =>
        this.limit(async () => {
          signal.throwIfAborted();
          const result = await this.embedWithRetries(batch, purpose, signal);
          result.vectors.forEach((vector, i) => (vectors[batch.offset + i] = vector));
          tokens += result.tokens;
          estimatedTokens += result.estimatedTokens;
        }).catch((error: unknown) => {
          failed.abort(error);
          throw error;
        }),
      ),
    );
    return { vectors, usage: { tokens, estimatedTokens }, truncated };
  }

  /**
   * Checks, prefixes and measures every input; truncates or rejects the ones over the limit.
   *
   * Exact counting only where it can matter: with a byte-level BPE counter (cl100k), a token
   * covers at least one UTF-8 byte, so an input of at most max_input_tokens bytes cannot be over
   * the limit and its byte length bounds its tokens for batch and rate-limit budgets. Only the
   * inputs longer than that in bytes are counted (and loaded the tokenizer for): they may be
   * over the limit, and truncation must be exact. A cheap counter (chars/4) counts every input.
   */
  private async prepare(
    texts: string[],
    purpose: EmbedPurpose,
    images?: ReadonlyArray<EmbedImage | null | undefined>,
  ): Promise<{ inputs: Input[]; truncated: number }> {
    const { name, max_input_tokens: max, on_too_long: policy } = this.settings;
    texts.forEach((text, index) => {
      if (typeof text !== 'string') throw new EmptyInputError(name, index, 'is not a string');
      // An image with no text is an input: a glyph image needs no caption.
      if (text.trim() === '' && images?.[index] == null) throw new EmptyInputError(name, index);
    });
    const withImages = (prepared: { inputs: Input[]; truncated: number }) => {
      if (images) prepared.inputs.forEach((input, i) => (input.image = images[i] ?? undefined));
      return prepared;
    };
    if (texts.length === 0) return { inputs: [], truncated: 0 };
    const prefix = purpose === 'query' ? this.settings.query_prefix : this.settings.document_prefix;
    const cheap = this.cheapCounter();
    const prefixed = texts.map((text) => prefix + text);
    const bytes = cheap ? [] : prefixed.map(bytesBound);
    const exact = cheap ?? (bytes.some((b) => b > max) ? await this.exactCounter() : undefined);
    let truncated = 0;
    const inputs = prefixed.map((input, index): Input => {
      if (exact === undefined || (!cheap && bytes[index]! <= max)) {
        const bound = bytes[index]!;
        return { text: input, bound, tokens: estimateTokens(bound), estimated: true };
      }
      const estimated = exact.kind === 'approximate';
      const tokens = exact.count(input);
      if (tokens <= max) return { text: input, bound: tokens, tokens, estimated };
      if (policy === 'fail') throw new InputTooLongError(name, index, tokens, max);
      truncated++;
      const kept = exact.truncate(input, max);
      return { text: kept.text, bound: kept.tokens, tokens: kept.tokens, estimated };
    });
    return withImages({ inputs, truncated });
  }

  /** The counter to run on every input, when counting is cheap (chars/4: hash, or an override). */
  private cheapCounter(): TokenCounter | undefined {
    const cheap =
      this.settings.tokenizer === 'approximate' ||
      (!this.settings.tokenizer && (this.provider.provider === 'hash' || this.provider.provider === 'hash-image'));
    const counter = this.counter ?? (cheap ? approximateTokens : undefined);
    return counter?.kind === 'approximate' ? counter : undefined;
  }

  /** The exact counter, loaded on first need (about half a second, seconds on a busy machine). */
  private async exactCounter(): Promise<TokenCounter> {
    this.counter ??= await (
      this.options.loadTokenCounter ?? (() => tokenCounterFor(this.provider.provider, this.settings.tokenizer))
    )();
    return this.counter;
  }

  /**
   * Loads the tokenizer if embedding `texts` would need it, so a search never waits for it:
   * only a text longer in bytes than max_input_tokens does.
   */
  async warmUp(texts: string[], purpose: EmbedPurpose): Promise<void> {
    await this.provider.prepare?.();
    if (this.cheapCounter()) return;
    const prefix = purpose === 'query' ? this.settings.query_prefix : this.settings.document_prefix;
    const max = this.settings.max_input_tokens;
    if (texts.some((t) => bytesBound(prefix + t) > max)) await this.exactCounter();
  }

  /**
   * Consecutive batches within batch_size inputs, batch_tokens tokens and batch_bytes image
   * bytes (a bigger input goes alone).
   */
  private split(inputs: Input[], withImages: boolean): Batch[] {
    const { batch_size: maxTexts, batch_tokens: maxTokens } = this.settings;
    const maxBytes = this.settings.batch_bytes ?? DEFAULT_BATCH_BYTES;
    const batches: Batch[] = [];
    let current: Batch | undefined;
    inputs.forEach((input, index) => {
      const bytes = input.image?.bytes.length ?? 0;
      if (
        current === undefined ||
        current.texts.length >= maxTexts ||
        (current.texts.length > 0 && current.bound + input.bound > maxTokens) ||
        (current.texts.length > 0 && current.bytes + bytes > maxBytes)
      ) {
        current = { offset: index, texts: [], bound: 0, bytes: 0, tokens: 0, estimatedTokens: 0 };
        if (withImages) current.images = [];
        batches.push(current);
      }
      current.texts.push(input.text);
      current.images?.push(input.image);
      current.bytes += bytes;
      current.bound += input.bound;
      current.tokens += input.tokens;
      if (input.estimated) current.estimatedTokens += input.tokens;
    });
    return batches;
  }

  private async embedWithRetries(batch: Batch, purpose: EmbedPurpose, signal: AbortSignal): Promise<BatchResult> {
    const maxInvalid = this.options.maxInvalidResponseRetries ?? 2;
    const maxRetryAfter = this.options.maxRetryAfterMs ?? 120_000;
    let invalid = 0;
    for (let attempt = 1; ; attempt++) {
      await this.limiter.acquire(batch.bound, signal);
      try {
        return await this.attempt(batch, purpose, signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof EmptyInputError) throw error.shifted(batch.offset);
        if (!isRetryable(error)) throw error;
        if (error instanceof InvalidResponseError) invalid++;
        if (attempt > this.settings.max_retries || invalid > maxInvalid) throw gaveUp(error, attempt);
        const retryAfter = retryAfterOf(error);
        if (retryAfter !== undefined && retryAfter > maxRetryAfter) {
          throw gaveUp(error, attempt, `Retry-After ${retryAfter} ms exceeds the ${maxRetryAfter} ms reembed waits`);
        }
        if (retryAfter !== undefined) this.limiter.pause(retryAfter);
        const delayMs = Math.max(this.backoff(attempt), retryAfter ?? 0);
        this.options.onRetry?.({ attempt, error, delayMs });
        await this.sleep(delayMs, signal);
      }
    }
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.options.retryBaseMs ?? 250, this.options.retryCapMs ?? 20_000, this.random);
  }

  /** One request under the profile's timeout, which becomes a (retryable) ProviderTimeoutError. */
  private async attempt(batch: Batch, purpose: EmbedPurpose, signal: AbortSignal): Promise<BatchResult> {
    const timeoutMs = this.settings.timeout_ms;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new ProviderTimeoutError(this.profile, timeoutMs)), timeoutMs);
    const combined = AbortSignal.any([signal, timeout.signal]);
    // A provider that ignores its signal must still not hold the batch past the timeout.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(combined.reason);
      combined.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([
        this.provider.embedBatch(batch.texts, purpose, combined, batch.images),
        aborted,
      ]);
      const vectors = this.validate(result, batch);
      const reported = result.tokens;
      // A count of 0 for a non-empty batch is a server that does not count (some report
      // prompt_tokens: 0): trusting it would refund the whole reservation and void the tpm limit.
      if (typeof reported === 'number' && Number.isFinite(reported) && reported > 0) {
        // The provider's own count is what it bills and rate-limits: give back what the bound overestimated.
        this.limiter.refund(batch.bound - reported);
        return { vectors, tokens: reported, estimatedTokens: 0 };
      }
      return { vectors, tokens: batch.tokens, estimatedTokens: batch.estimatedTokens };
    } catch (error) {
      if (timeout.signal.aborted && !signal.aborted) throw timeout.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
      if (onAbort) combined.removeEventListener('abort', onAbort);
    }
  }

  /** Exactly one finite, non-zero vector of the profile's dims per input, normalized if asked. */
  private validate(result: ProviderBatchResult, batch: Batch): Float32Array[] {
    const { name, dims, normalize } = this.settings;
    const fail = (message: string): never => {
      throw new InvalidResponseError(name, message);
    };
    const vectors = result.vectors;
    if (!Array.isArray(vectors) || vectors.length !== batch.texts.length) {
      const count = Array.isArray(vectors) ? vectors.length : 'no list of';
      fail(`provider returned ${count} vectors for ${batch.texts.length} inputs`);
    }
    return vectors.map((vector: ArrayLike<unknown> | null | undefined, i) => {
      const index = batch.offset + i;
      if (vector == null || typeof vector.length !== 'number')
        return fail(`provider returned no vector for input ${index}`);
      if (vector.length !== dims) {
        return fail(
          `provider returned ${vector.length} dimensions for input ${index}, expected ${dims} (profile dims)`,
        );
      }
      let norm = 0;
      for (let j = 0; j < dims; j++) {
        const value = vector[j];
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          fail(`provider returned ${describeValue(value)} at position ${j} of the vector for input ${index}`);
        }
        norm += (value as number) * (value as number);
      }
      if (norm === 0) fail(`provider returned a zero vector for input ${index}`);
      if (!Number.isFinite(norm)) fail(`provider returned values too large to use for input ${index}`);
      const scale = normalize ? 1 / Math.sqrt(norm) : 1;
      const out = new Float32Array(dims);
      let nonZero = false;
      for (let j = 0; j < dims; j++) {
        out[j] = (vector[j] as number) * scale;
        if (!Number.isFinite(out[j]!)) fail(`provider returned values too large for 32-bit floats for input ${index}`);
        nonZero ||= out[j] !== 0;
      }
      // Without normalization, tiny values can underflow 32-bit floats to an all-zero vector.
      if (!nonZero) fail(`provider returned a vector that is zero in 32-bit floats for input ${index}`);
      return out;
    });
  }
}

function describeValue(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}

function gaveUp(error: unknown, attempts: number, why?: string): unknown {
  if (error instanceof Error) {
    error.message += why ? ` (${why})` : ` (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})`;
  }
  return error;
}
