/** What the text is for: providers and profiles may treat queries and documents differently. */
export type EmbedPurpose = 'document' | 'query';

export interface EmbedUsage {
  /**
   * Tokens of the request: what the provider reported where its responses said, else counted
   * (inputs over max_input_tokens bytes) or estimated (the others; see `estimatedTokens`).
   */
  tokens: number;
  /** The part of `tokens` that is an estimate, not reported or counted: 0 when exact. */
  estimatedTokens: number;
}

export interface EmbedResult {
  /** One vector per input text, in input order; each has exactly the profile's dims. */
  vectors: Float32Array[];
  usage: EmbedUsage;
  /** How many inputs were truncated to the profile's max_input_tokens. */
  truncated: number;
}

/** An image input, checked and decodable (source/image.ts reads and checks them). */
export interface EmbedImage {
  bytes: Uint8Array;
  /** image/png, image/jpeg, image/gif or image/webp. */
  mime: string;
  /** The http(s) URL it was read from, if any (sent instead of the bytes with send_image_urls). */
  url?: string;
}

export interface EmbedOptions {
  signal?: AbortSignal;
  /**
   * Images embedded with the texts, one per text in the same order (null or missing: that
   * input is its text alone). Only providers that take images (hash-image, multimodal) accept them.
   */
  images?: ReadonlyArray<EmbedImage | null | undefined>;
}

/**
 * Turns texts (and, for multimodal profiles, their images) into vectors. Providers implement this for one request; the resilience layer
 * (embedders/resilient.ts) wraps a provider with batching, limits, retries and validation and
 * implements the same interface, so callers never see the difference.
 */
export interface Embedder {
  /** The profile this embedder serves. */
  readonly profile: string;
  readonly dims: number;
  embed(texts: string[], purpose: EmbedPurpose, options?: EmbedOptions): Promise<EmbedResult>;
  /**
   * Loads what embedding `texts` would load on first use (a tokenizer), so that cost is paid
   * before a timed call rather than inside it. Cheap once loaded.
   */
  warmUp?(texts: string[], purpose: EmbedPurpose): Promise<void>;
}
