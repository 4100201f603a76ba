/**
 * Provider `multimodal`: image + text requests in the wire format the profile names
 * (embedders/wires.ts), over plain fetch. One call is one HTTP request: batching by count,
 * tokens and image bytes, retries honouring Retry-After, timeouts and the validation of every
 * vector belong to the resilience layer, as for every provider.
 */
import type { Wire } from '../config/profile.js';
import { ReembedError } from '../errors.js';
import { InvalidResponseError } from './errors.js';
import {
  apiKeyFor,
  errorForStatus,
  shapeProblem,
  isAbortError,
  networkError,
  requireSetting,
  type HttpProviderOptions,
  type ProviderProfile,
} from './http.js';
import type { ProviderBatchResult, ProviderClient } from './provider.js';
import { WIRE_FORMATS, WireAnswerError } from './wires.js';

/** The message of an error body: `{"message"}` (Cohere, Voyage's `detail`), `{"error": …}`, or the text. */
function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const error = parsed.error;
    const message =
      parsed.message ??
      parsed.detail ??
      (typeof error === 'object' && error ? (error as { message?: unknown }).message : error);
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON: the raw body is the best message there is.
  }
  return body;
}

export function createMultimodalClient(
  profile: ProviderProfile & { wire?: Wire; send_image_urls?: boolean },
  options: HttpProviderOptions = {},
): ProviderClient {
  const wire = WIRE_FORMATS[requireSetting(profile, profile.wire, 'a wire (jina, cohere or voyage)')];
  const model = requireSetting(profile, profile.model, 'a model');
  const endpoint = `${requireSetting(profile, profile.base_url, 'base_url').replace(/\/+$/, '')}${wire.path}`;
  const apiKey = apiKeyFor(profile, options.env ?? process.env);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const dims = profile.send_dimensions ? profile.dims : undefined;

  return {
    provider: 'multimodal',
    endpoint,
    acceptsImages: true,
    async embedBatch(texts, purpose, signal, images): Promise<ProviderBatchResult> {
      const inputs = texts.map((text, i) => ({ text, image: images?.[i] }));
      let response: Response;
      let text: string;
      try {
        response = await fetchImpl(endpoint, {
          method: 'POST',
          headers,
          body: JSON.stringify(wire.body(inputs, { model, dims, purpose, imageUrls: profile.send_image_urls })),
          signal,
        });
        text = await response.text();
      } catch (error) {
        if (error instanceof ReembedError || isAbortError(error)) throw error;
        throw networkError(profile.name, endpoint, error);
      }
      if (!response.ok) throw errorForStatus(profile.name, response.status, response.headers, errorText(text));
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new InvalidResponseError(
          profile.name,
          `provider returned a malformed response: response is not valid JSON: ${reason}`,
        );
      }
      const parsed = wire.schema.safeParse(json);
      if (!parsed.success) {
        throw new InvalidResponseError(
          profile.name,
          `provider returned a malformed response: response does not match the ${profile.wire} format: ${shapeProblem(parsed.error)}`,
        );
      }
      try {
        return wire.vectors(parsed.data, inputs);
      } catch (error) {
        if (!(error instanceof WireAnswerError)) throw error;
        throw new InvalidResponseError(profile.name, `provider returned a malformed response: ${error.message}`);
      }
    },
  };
}
