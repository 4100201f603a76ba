import { z } from 'zod';

const positiveInt = z.number().int().positive();
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'api_key_env must be an environment variable name');

/**
 * A profile's rerank stage (router/rerank-stage.ts): the top `top_n` of the retrieval are
 * reordered before the top k is returned. Not part of the fingerprint: it never changes a
 * stored vector, so adding, changing or removing it needs no backfill.
 */
export const rerankSchema = z
  .object({
    /** `http`: a Cohere-, Jina- or TEI-compatible `POST {base_url}/rerank`; `features`: the built-in model. */
    provider: z.enum(['http', 'features'], {
      error: (issue) => `unknown rerank provider ${JSON.stringify(issue.input)} (expected one of: http, features)`,
    }),
    /** Candidates fetched from the retrieval and reranked (at least the request's k are always fetched). */
    top_n: positiveInt.max(1000).default(50),
    /** Share of subjects (sticky buckets, 0-100) served by the rerank arm; the others are served unreranked. */
    percent: z.number().min(0).max(100).default(100),
    base_url: z.url().optional(),
    model: z.string().min(1).optional(),
    api_key_env: envName
      .refine((name) => !/^REEMBED_|DATABASE_URL|^PG[A-Z]+$/i.test(name), {
        message:
          'api_key_env may not name a REEMBED_* variable or a database variable: its value is sent to the reranker',
      })
      .optional(),
    /** One rerank request's budget; past it the unreranked order is served (a fallback). */
    timeout_ms: positiveInt.max(60_000).default(1000),
    /** Retries of a failed request (5xx, 408, 429, network) within timeout_ms. */
    max_retries: z.number().int().nonnegative().max(5).default(1),
    /**
     * `http`: requests per minute this process sends at most. A search that would have to wait
     * for the limit is served in the retrieval order at once (a fallback), never held back; a
     * 429 with Retry-After holds every request back for that long.
     */
    rate_limit: z.object({ rpm: positiveInt }).strict().optional(),
    /** The features model's weights (`reembed rerank train`), relative to the manifest's directory. */
    weights: z.string().min(1).optional(),
  })
  .strict()
  .refine((r) => r.provider !== 'http' || (r.base_url !== undefined && r.model !== undefined), {
    message: 'rerank provider http needs base_url and model',
  })
  .refine((r) => r.provider !== 'features' || r.weights !== undefined, {
    message: 'rerank provider features needs weights (a file written by reembed rerank train)',
  });

export type RerankSettings = z.output<typeof rerankSchema>;
