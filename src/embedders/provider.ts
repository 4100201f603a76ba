import type { ProviderName } from '../config/profile.js';
import type { EmbedImage, EmbedPurpose } from './embedder.js';

export interface ProviderBatchResult {
  /** One vector per text, in order. Unvalidated: the resilience layer checks count, dims and values. */
  vectors: ReadonlyArray<ArrayLike<number>>;
  /** Tokens the provider reported for the request, when it did. */
  tokens?: number;
}

/**
 * One request to one provider, nothing more: no retries, batching, limits or validation. The
 * ResilientEmbedder adds those, identically for every provider.
 */
export interface ProviderClient {
  readonly provider: ProviderName;
  /** Where requests go, for messages and `describeEmbedder`; undefined for local providers. */
  readonly endpoint?: string;
  /** Whether requests may carry images (`images` of embedBatch); others get texts only. */
  readonly acceptsImages?: boolean;
  /** `images`, when given, has one entry per text: that input's image, or undefined for text alone. */
  embedBatch(
    texts: string[],
    purpose: EmbedPurpose,
    signal: AbortSignal,
    images?: ReadonlyArray<EmbedImage | undefined>,
  ): Promise<ProviderBatchResult>;
  /**
   * Loads what requests need (an SDK) before the first one, so that loading never counts
   * against a request's timeout. Called before every embed: cheap once done.
   */
  prepare?(): Promise<void>;
}
