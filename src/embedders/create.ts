import { resolveBaseUrl } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Embedder } from './embedder.js';
import { HashProvider } from './hash.js';
import { HashImageProvider } from './hash-image.js';
import { createMultimodalClient } from './multimodal.js';
import { OLLAMA_DEFAULT_URL, createOllamaClient } from './ollama.js';
import { createOpenAICompatibleClient } from './openai-compatible.js';
import type { ProviderClient } from './provider.js';
import { ResilientEmbedder, type ResilientOptions } from './resilient.js';

export interface CreateEmbedderOptions extends ResilientOptions {
  /** Where api_key_env is looked up (default process.env). */
  env?: Record<string, string | undefined>;
  /** The fetch the HTTP providers use (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /**
   * A provider client of your own (another API, an in-process model, a benchmark stub). It
   * still runs inside the resilience layer: batching, limits, retries and validation apply.
   */
  provider?: (profile: Profile) => ProviderClient;
}

/** The provider client for a profile, without the resilience layer. */
export function createProviderClient(declared: Profile, options: CreateEmbedderOptions = {}): ProviderClient {
  if (options.provider) return options.provider(declared);
  // base_url_env is read now, when the profile is used: a missing or malformed value is a ConfigError.
  const builtIn = declared.provider === 'hash' || declared.provider === 'hash-image';
  const profile = builtIn ? declared : resolveBaseUrl(declared, options.env ?? process.env);
  switch (profile.provider) {
    case 'hash':
      return new HashProvider(profile);
    case 'hash-image':
      return new HashImageProvider(profile);
    case 'multimodal':
      return createMultimodalClient(profile, options);
    case 'openai-compatible':
      return createOpenAICompatibleClient(profile, options);
    case 'ollama':
      return createOllamaClient(profile, options);
  }
}

/** An Embedder for a profile: its provider behind batching, limits, retries and validation. */
export function createEmbedder(profile: Profile, options: CreateEmbedderOptions = {}): Embedder {
  return new ResilientEmbedder(profile, createProviderClient(profile, options), options);
}

/** One line for logs and `plan`: what embeds, where, at what size. Never includes credentials. */
export function describeEmbedder(profile: Profile): string {
  const where =
    profile.provider === 'hash' || profile.provider === 'hash-image'
      ? 'built in'
      : profile.provider === 'ollama'
        ? (profile.base_url ?? (profile.base_url_env ? `$${profile.base_url_env}` : OLLAMA_DEFAULT_URL))
        : (profile.base_url ?? (profile.base_url_env ? `$${profile.base_url_env}` : 'no base_url'));
  const model = profile.model ? ` ${profile.model}` : '';
  return `${profile.name}: ${profile.provider}${model}, ${profile.dims} dims, ${profile.metric} (${where})`;
}
