/**
 * The OpenAI `/v1/embeddings` wire format (OpenAI, Azure-style proxies, vLLM, LiteLLM, LM Studio,
 * Ollama's /v1, ...) through the Vercel AI SDK.
 *
 * We call the model's `doEmbed` directly rather than `embedMany`: one call is exactly one HTTP
 * request with no retries and no chunking of its own, because batching and retries belong to
 * the resilience layer, and `doEmbed`'s APICallError carries the status and response headers
 * (Retry-After) that layer needs.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, JSONParseError, TypeValidationError } from 'ai';
import { ConfigError, ReembedError } from '../errors.js';
import { InvalidResponseError } from './errors.js';
import {
  apiKeyFor,
  errorForStatus,
  formatIssuePath,
  isAbortError,
  networkError,
  requireSetting,
  type HttpProviderOptions,
  type ProviderProfile,
} from './http.js';
import type { ProviderBatchResult, ProviderClient } from './provider.js';

interface Issue {
  path?: ReadonlyArray<PropertyKey>;
  message?: string;
}

/** A short reason; the SDK's own messages embed the whole response body, which can be megabytes. */
function malformedReason(error: unknown): string {
  if (TypeValidationError.isInstance(error)) {
    const issues = (error.cause as { issues?: Issue[] } | undefined)?.issues ?? [];
    const first = issues[0];
    const where = first?.path?.length ? `${formatIssuePath(first.path)}: ` : '';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : '';
    return `response does not match the embeddings format: ${where}${first?.message ?? 'invalid'}${more}`;
  }
  if (JSONParseError.isInstance(error)) {
    return `response is not valid JSON: ${error.cause instanceof Error ? error.cause.message : 'parse error'}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function mapSdkError(profile: string, url: string, error: unknown): unknown {
  if (error instanceof ReembedError || isAbortError(error)) return error;
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    if (status === undefined) return networkError(profile, url, error.cause ?? error);
    if (status >= 200 && status < 300) {
      const reason = malformedReason(error.cause);
      return new InvalidResponseError(profile, `provider returned a malformed response: ${reason}`, { cause: error });
    }
    // `data` is set when the SDK could parse an error body; its message is then the provider's own.
    const body = error.data !== undefined ? error.message : (error.responseBody ?? error.message);
    return errorForStatus(profile, status, error.responseHeaders, body, error);
  }
  if (JSONParseError.isInstance(error) || TypeValidationError.isInstance(error)) {
    return new InvalidResponseError(profile, `provider returned a malformed response: ${malformedReason(error)}`, {
      cause: error,
    });
  }
  if (error instanceof TypeError) return networkError(profile, url, error);
  return error;
}

export function createOpenAICompatibleClient(
  profile: ProviderProfile,
  options: HttpProviderOptions = {},
): ProviderClient {
  const baseURL = requireSetting(profile, profile.base_url, 'base_url').replace(/\/+$/, '');
  const modelId = requireSetting(profile, profile.model, 'a model');
  const provider = createOpenAICompatible({
    name: 'reembed',
    baseURL,
    apiKey: apiKeyFor(profile, options.env ?? process.env),
    fetch: options.fetch,
  });
  const model = provider.embeddingModel(modelId);
  // The SDK refuses larger requests before sending them (the OpenAI API's own limit).
  const maxPerCall = typeof model.maxEmbeddingsPerCall === 'number' ? model.maxEmbeddingsPerCall : Infinity;
  if (profile.batch_size > maxPerCall) {
    throw new ConfigError(
      `profile ${profile.name}: batch_size ${profile.batch_size} is more than the ${maxPerCall} inputs an openai-compatible request may carry`,
    );
  }
  const endpoint = `${baseURL}/embeddings`;
  const providerOptions = profile.send_dimensions ? { openaiCompatible: { dimensions: profile.dims } } : undefined;

  return {
    provider: 'openai-compatible',
    endpoint,
    async embedBatch(texts, _purpose, signal): Promise<ProviderBatchResult> {
      try {
        const result = await model.doEmbed({ values: texts, abortSignal: signal, providerOptions });
        return { vectors: result.embeddings, tokens: result.usage?.tokens };
      } catch (error) {
        throw mapSdkError(profile.name, endpoint, error);
      }
    },
  };
}
