/**
 * The OpenAI `/v1/embeddings` wire format (OpenAI, Azure-style proxies, vLLM, LiteLLM, LM Studio,
 * Ollama's /v1, ...) through the Vercel AI SDK.
 *
 * We call the model's `doEmbed` directly rather than `embedMany`: one call is exactly one HTTP
 * request with no retries and no chunking of its own, because batching and retries belong to
 * the resilience layer, and `doEmbed`'s APICallError carries the status and response headers
 * (Retry-After) that layer needs.
 *
 * The SDK is loaded on the first request, and `ai` (its error classes, with OpenTelemetry and
 * the gateway behind them) on the first error: a command that never embeds through this
 * provider never pays for loading them.
 */
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
type EmbeddingModel = ReturnType<
  ReturnType<(typeof import('@ai-sdk/openai-compatible'))['createOpenAICompatible']>['embeddingModel']
>;

type SdkErrors = Pick<typeof import('ai'), 'APICallError' | 'JSONParseError' | 'TypeValidationError'>;

let sdkErrors: Promise<SdkErrors> | undefined;
const loadSdkErrors = (): Promise<SdkErrors> => (sdkErrors ??= import('ai'));

function malformedReason({ JSONParseError, TypeValidationError }: SdkErrors, error: unknown): string {
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

export async function mapSdkError(profile: string, url: string, error: unknown): Promise<unknown> {
  if (error instanceof ReembedError || isAbortError(error)) return error;
  const errors = await loadSdkErrors();
  const { APICallError, JSONParseError, TypeValidationError } = errors;
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    if (status === undefined) return networkError(profile, url, error.cause ?? error);
    if (status >= 200 && status < 300) {
      const reason = malformedReason(errors, error.cause);
      return new InvalidResponseError(profile, `provider returned a malformed response: ${reason}`, { cause: error });
    }
    // `data` is set when the SDK could parse an error body; its message is then the provider's own.
    const body = error.data !== undefined ? error.message : (error.responseBody ?? error.message);
    return errorForStatus(profile, status, error.responseHeaders, body, error);
  }
  if (JSONParseError.isInstance(error) || TypeValidationError.isInstance(error)) {
    return new InvalidResponseError(
      profile,
      `provider returned a malformed response: ${malformedReason(errors, error)}`,
      {
        cause: error,
      },
    );
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
  const apiKey = apiKeyFor(profile, options.env ?? process.env);
  // Checked before the SDK loads (it refuses larger requests too), and again once it has.
  checkBatchSize(profile, OPENAI_MAX_INPUTS_PER_REQUEST);
  const endpoint = `${baseURL}/embeddings`;
  const providerOptions = profile.send_dimensions ? { openaiCompatible: { dimensions: profile.dims } } : undefined;

  let model: Promise<EmbeddingModel> | undefined;
  const getModel = (): Promise<EmbeddingModel> => {
    if (!model) {
      model = loadModel();
      // A failed load (a network file system hiccup) is tried again by the next request.
      model.catch(() => (model = undefined));
    }
    return model;
  };
  const loadModel = async (): Promise<EmbeddingModel> => {
    const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
    const provider = createOpenAICompatible({ name: 'reembed', baseURL, apiKey, fetch: options.fetch });
    const loaded = provider.embeddingModel(modelId);
    const maxPerCall = await loaded.maxEmbeddingsPerCall;
    if (typeof maxPerCall === 'number') checkBatchSize(profile, maxPerCall);
    return loaded;
  };

  return {
    provider: 'openai-compatible',
    endpoint,
    async embedBatch(texts, _purpose, signal): Promise<ProviderBatchResult> {
      try {
        const result = await (await getModel()).doEmbed({ values: texts, abortSignal: signal, providerOptions });
        return { vectors: result.embeddings, tokens: result.usage?.tokens };
      } catch (error) {
        throw await mapSdkError(profile.name, endpoint, error);
      }
    },
    // The SDK and its error classes load before the first request's timeout starts: with both
    // taking a second or more on a busy machine, a 429 would otherwise turn into a timeout.
    async prepare(): Promise<void> {
      await Promise.all([getModel(), loadSdkErrors()]);
    },
  };
}

/** The OpenAI API's limit of inputs per embeddings request, which the SDK enforces as well. */
const OPENAI_MAX_INPUTS_PER_REQUEST = 2048;

function checkBatchSize(profile: ProviderProfile, maxPerCall: number): void {
  if (profile.batch_size > maxPerCall) {
    throw new ConfigError(
      `profile ${profile.name}: batch_size ${profile.batch_size} is more than the ${maxPerCall} inputs an openai-compatible request may carry`,
    );
  }
}
