/**
 * Ollama's native embedding endpoint, `POST /api/embed`. Plain fetch: the request is one small
 * JSON body and the answer one array, with no SDK needed to speak it.
 */
import { z } from 'zod';
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

export const OLLAMA_DEFAULT_URL = 'http://localhost:11434';

// Numbers are checked for finiteness and count by the resilience layer; this checks the shape.
const responseSchema = z.object({
  embeddings: z.array(z.array(z.number())),
  prompt_eval_count: z.number().int().nonnegative().optional(),
});

export function createOllamaClient(profile: ProviderProfile, options: HttpProviderOptions = {}): ProviderClient {
  const model = requireSetting(profile, profile.model, 'a model');
  const endpoint = `${(profile.base_url ?? OLLAMA_DEFAULT_URL).replace(/\/+$/, '')}/api/embed`;
  const apiKey = apiKeyFor(profile, options.env ?? process.env);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;

  async function post(texts: string[], signal: AbortSignal): Promise<Response> {
    const body = {
      model,
      input: texts,
      // Our token count is only an estimate of the model's own, so with `truncate` Ollama cuts
      // what we missed; with `fail` it must refuse rather than silently embed a cut text.
      truncate: profile.on_too_long === 'truncate',
      ...(profile.send_dimensions ? { dimensions: profile.dims } : {}),
    };
    try {
      return await fetchImpl(endpoint, { method: 'POST', headers, body: JSON.stringify(body), signal });
    } catch (error) {
      if (error instanceof ReembedError || isAbortError(error)) throw error;
      throw networkError(profile.name, endpoint, error);
    }
  }

  return {
    provider: 'ollama',
    endpoint,
    async embedBatch(texts, _purpose, signal): Promise<ProviderBatchResult> {
      const response = await post(texts, signal);
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        if (error instanceof ReembedError || isAbortError(error)) throw error;
        throw networkError(profile.name, endpoint, error);
      }
      if (!response.ok) {
        let message = text;
        try {
          const parsed: unknown = JSON.parse(text);
          if (parsed && typeof parsed === 'object' && 'error' in parsed) message = errorText(parsed.error);
        } catch {
          // Not JSON: the raw body is the best message there is.
        }
        throw errorForStatus(profile.name, response.status, response.headers, message);
      }
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
      const parsed = responseSchema.safeParse(json);
      if (!parsed.success) {
        throw new InvalidResponseError(
          profile.name,
          `provider returned a malformed response: response does not match the embeddings format: ${shapeProblem(parsed.error)}`,
        );
      }
      return { vectors: parsed.data.embeddings, tokens: parsed.data.prompt_eval_count };
    },
  };
}

/** Ollama answers `{"error": "…"}`; a proxy in front of it may answer `{"error": {"message": "…"}}`. */
function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string')
    return (error as { message: string }).message;
  return JSON.stringify(error);
}
