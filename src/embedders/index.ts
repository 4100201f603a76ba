export type { EmbedOptions, EmbedPurpose, EmbedResult, EmbedUsage, Embedder } from './embedder.js';
export {
  EmbedderError,
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
} from './errors.js';
export { createEmbedder, createProviderClient, describeEmbedder, type CreateEmbedderOptions } from './create.js';
export { ResilientEmbedder, type ResilientOptions, type RetryEvent } from './resilient.js';
export type { ProviderBatchResult, ProviderClient } from './provider.js';
export { HashProvider, HashVectorizer } from './hash.js';
export { RateLimiter, type RateLimits } from './rate-limiter.js';
export { approximateTokens, loadCl100k, tokenCounterFor, type TokenCounter } from './tokens.js';
export { parseRetryAfter } from './http.js';
