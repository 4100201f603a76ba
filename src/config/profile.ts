import { z } from 'zod';
import { durationSchema } from './duration-schema.js';
import type { ImageRef } from './template.js';
import { rerankSchema } from './rerank.js';

/**
 * Providers reembed can embed with. `hash` and `hash-image` are built in and need no network;
 * `multimodal` speaks the image+text wire format named by the profile's `wire`.
 */
export const PROVIDERS = ['hash', 'hash-image', 'openai-compatible', 'ollama', 'multimodal'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const METRICS = ['cosine', 'l2', 'ip'] as const;
export type Metric = (typeof METRICS)[number];

/** pgvector stores at most 16,000 dimensions in a `vector` column. */
export const MAX_DIMS = 16000;

const positiveInt = z.number().int().positive();

/**
 * The query-embedding cache of a profile (router/query-cache.ts): not part of the fingerprint,
 * since it never changes a vector. `size: 0` turns it off.
 */
const queryCacheSchema = z
  .object({
    /** Query vectors kept per profile in each process (least recently used go first). */
    size: z.number().int().nonnegative().max(1_000_000).default(1000),
    /** How long a cached vector is served (0: until evicted). */
    ttl: durationSchema.default(600_000),
    /** Also share vectors between instances through reembed.query_cache. */
    shared: z.boolean().default(false),
    /** Rows the shared table keeps per profile fingerprint; the oldest beyond go. */
    shared_max_rows: positiveInt.default(100_000),
  })
  .strict();

export type QueryCacheSettings = z.output<typeof queryCacheSchema>;

const hashOptions = z
  .object({
    word_ngrams: z.tuple([positiveInt, positiveInt]).default([1, 2]),
    char_ngrams: z.tuple([positiveInt, positiveInt]).default([3, 5]),
    seed: z.number().int().nonnegative().default(0),
  })
  .strict()
  .refine((h) => h.word_ngrams[0] <= h.word_ngrams[1] && h.char_ngrams[0] <= h.char_ngrams[1], {
    message: 'n-gram ranges must be [min, max] with min <= max',
  });

/** The multimodal request formats (embedders/wires.ts), one per kind of real service. */
export const WIRES = ['jina', 'cohere', 'voyage'] as const;
export type Wire = (typeof WIRES)[number];

/** Providers that can embed an image input. */
export const IMAGE_PROVIDERS: readonly ProviderName[] = ['hash-image', 'multimodal'];

/**
 * A profile's inputs beyond one text template: `text` is a template as before, `image` one
 * column placeholder whose value is bytea, a data URI, a file path or an http(s) URL, and
 * `image_version` an optional template (e.g. "{updated_at}") added to the content hash of a
 * path or URL, whose bytes the database cannot see.
 */
const inputSchema = z
  .object({
    text: z.string().min(1),
    image: z
      .string()
      .regex(/^\{\s*[A-Za-z_][A-Za-z0-9_$]*\s*\}$/, 'input.image must be one column placeholder, e.g. "{glyph}"'),
    image_version: z.string().min(1).optional(),
  })
  .strict();
export type ProfileInputs = z.output<typeof inputSchema>;

/** How image inputs are read (not part of the fingerprint: they never change a vector). */
const imageSettingsSchema = z
  .object({
    /** Images larger than this fail their row (bytes, after decoding a data URI). */
    max_bytes: positiveInt.default(10 * 1024 * 1024),
    /** An http(s) fetch slower than this fails its row. */
    fetch_timeout_ms: positiveInt.default(10_000),
    /**
     * Images whose header declares more pixels than this fail their row before decoding (a few
     * MB of PNG can decode to gigabytes; 40 MP is 160 MB of RGBA).
     */
    max_pixels: positiveInt.default(40_000_000),
    /**
     * When set, an http(s) image (and every redirect it takes) must be on one of these hosts
     * (`cdn.example.com`, or `*.example.com` for its subdomains): the workers fetch what the
     * source table says, so a table users write to could point them at internal addresses.
     */
    allow_hosts: z.array(z.string().min(1)).min(1).optional(),
    /** When set, a file path must resolve (symbolic links followed) inside one of these directories. */
    allow_dirs: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();
export type ImageSettings = z.output<typeof imageSettingsSchema>;

/** pgvector's limits on the index parameters. */
const hnswIndex = z
  .object({
    type: z.literal('hnsw'),
    /** Graph links per node (pgvector: 2-100, default 16). */
    m: z.number().int().min(2).max(100).optional(),
    /** Candidate list size while building (pgvector: 4-1000, at least 2 × m; default 64). */
    ef_construction: z.number().int().min(4).max(1000).optional(),
    /** Search breadth (hnsw.ef_search, 1-1000; default 40); set by `reembed tune`. */
    ef_search: z.number().int().min(1).max(1000).optional(),
  })
  .strict()
  .refine((h) => (h.ef_construction ?? 64) >= 2 * (h.m ?? 16), {
    message: 'index.ef_construction must be at least 2 × index.m (a pgvector rule)',
  });

const ivfflatIndex = z
  .object({
    type: z.literal('ivfflat'),
    /** Inverted lists (pgvector: 1-32768). Default: rows / 1000 up to 1M rows, √rows above, at least 1. */
    lists: z.number().int().min(1).max(32768).optional(),
    /** Lists searched per query (ivfflat.probes, 1-32768; default 10); set by `reembed tune`. */
    probes: z.number().int().min(1).max(32768).optional(),
  })
  .strict();

/**
 * The profile's ANN index: `hnsw` (the default) or `ivfflat`. Not part of the fingerprint:
 * changing it rebuilds the index, the vectors stay. A new kind adds its block here and one
 * file in store/ (store/index-<type>.ts).
 */
export const indexSettingsSchema = z.discriminatedUnion('type', [hnswIndex, ivfflatIndex], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'index.type must be one of: hnsw, ivfflat' : (issue.message ?? 'invalid index'),
});
export type IndexSettings = z.output<typeof indexSettingsSchema>;
export const INDEX_TYPES = ['hnsw', 'ivfflat'] as const;
export type IndexType = (typeof INDEX_TYPES)[number];

/** One profile as written in the manifest (snake_case keys, as in the YAML). */
export const profileSchema = z
  .object({
    provider: z.enum(PROVIDERS, {
      error: (issue) => `unknown provider ${JSON.stringify(issue.input)} (expected one of: ${PROVIDERS.join(', ')})`,
    }),
    model: z.string().min(1).optional(),
    dims: z
      .number({ error: 'dims must be a number' })
      .int('dims must be a whole number')
      .min(1, 'dims must be at least 1')
      .max(MAX_DIMS, `dims must be at most ${MAX_DIMS} (the pgvector limit)`),
    metric: z.enum(METRICS).default('cosine'),
    normalize: z.boolean().default(true),
    /** Input template over the source's columns, e.g. "{title}\n\n{body}". Defaults to the source's. */
    template: z.string().min(1).optional(),
    /** Text and image inputs (instead of `template`), for providers that embed images. */
    input: inputSchema.optional(),
    /** How image inputs are read: size cap and fetch timeout. */
    image: imageSettingsSchema.prefault({}),
    /** The request format of provider `multimodal`. */
    wire: z.enum(WIRES).optional(),
    /**
     * Send an http(s) image by its URL instead of its bytes (wires jina and voyage), after
     * reembed has fetched and checked it. Not in the fingerprint: the same image either way.
     */
    send_image_urls: z.boolean().default(false),
    query_prefix: z.string().default(''),
    document_prefix: z.string().default(''),
    max_input_tokens: positiveInt.default(8191),
    /**
     * How tokens are counted for max_input_tokens, batch budgets, rate limits and costs
     * (default: approximate for hash, cl100k_base for the others).
     */
    tokenizer: z.enum(['cl100k_base', 'o200k_base', 'approximate']).optional(),
    /** What to do with an input over max_input_tokens. */
    on_too_long: z.enum(['truncate', 'fail']).default('truncate'),
    batch_size: positiveInt.max(4096).default(96),
    batch_tokens: positiveInt.default(100_000),
    /** Image bytes per request, at most (a bigger image goes alone). */
    batch_bytes: positiveInt.default(8 * 1024 * 1024),
    concurrency: positiveInt.max(256).default(4),
    rate_limit: z.object({ rpm: positiveInt.optional(), tpm: positiveInt.optional() }).strict().default({}),
    timeout_ms: positiveInt.default(30_000),
    max_retries: z.number().int().nonnegative().max(20).default(5),
    price_per_million_tokens: z.number().nonnegative().optional(),
    base_url: z.url().optional(),
    /** The environment variable holding base_url, read when the profile is used (not with base_url). */
    base_url_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'base_url_env must be an environment variable name')
      .optional(),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'api_key_env must be an environment variable name')
      // Its value is sent to base_url as a bearer token: never reembed's own or a database's secret.
      .refine((name) => !/^REEMBED_|DATABASE_URL|^PG[A-Z]+$/i.test(name), {
        message:
          'api_key_env may not name a REEMBED_* variable or a database variable (DATABASE_URL, PG*): its value is sent to the provider',
      })
      .optional(),
    /** Send the `dimensions` parameter (models with shortenable embeddings). */
    send_dimensions: z.boolean().default(false),
    hash: hashOptions.optional(),
    /** HNSW search breadth; set by `reembed tune` (kept from before `index:`; same as index.ef_search). */
    ef_search: positiveInt.optional(),
    /** The ANN index kind and its parameters (default: HNSW with pgvector's defaults). */
    index: indexSettingsSchema.optional(),
    cache: queryCacheSchema.prefault({}),
    /** A rerank stage over the top `top_n` of the retrieval (not part of the fingerprint). */
    rerank: rerankSchema.optional(),
  })
  .strict()
  .refine((p) => p.template === undefined || p.input === undefined, {
    message: 'give template or input.text, not both',
    path: ['template'],
  })
  .refine((p) => p.input === undefined || IMAGE_PROVIDERS.includes(p.provider), {
    message: `an image input needs a provider that embeds images (${IMAGE_PROVIDERS.join(', ')})`,
    path: ['input'],
  })
  .refine((p) => (p.provider === 'multimodal') === (p.wire !== undefined), {
    message: `provider multimodal needs wire (one of: ${WIRES.join(', ')}), and only it takes one`,
    path: ['wire'],
  })
  .refine((p) => !p.send_image_urls || p.wire === 'jina' || p.wire === 'voyage', {
    message: 'send_image_urls applies to wires jina and voyage (Cohere takes data URIs only)',
    path: ['send_image_urls'],
  })
  .refine((p) => p.ef_search === undefined || p.index === undefined || p.index.type === 'hnsw', {
    message: 'ef_search is an HNSW setting; an ivfflat index takes index.probes',
    path: ['ef_search'],
  })
  .refine((p) => p.ef_search === undefined || p.index?.type !== 'hnsw' || p.index.ef_search === undefined, {
    message: 'ef_search is set twice (ef_search and index.ef_search); keep one',
    path: ['ef_search'],
  });

export type ProfileInput = z.input<typeof profileSchema>;
export type ProfileSettings = z.output<typeof profileSchema>;

/** A validated profile with its name and fingerprint. */
export interface Profile extends ProfileSettings {
  name: string;
  fingerprint: string;
}

export type HashOptions = z.output<typeof hashOptions>;

export function imageRefOf(profile: Pick<ProfileSettings, 'input'>): ImageRef | undefined {
  const input = profile.input;
  if (!input) return undefined;
  const column = input.image.slice(1, -1).trim();
  return input.image_version ? { column, version: input.image_version } : { column };
}
export const DEFAULT_HASH_OPTIONS: HashOptions = { word_ngrams: [1, 2], char_ngrams: [3, 5], seed: 0 };

/**
 * Every template a profile reads from the source: its text template, and for an image input
 * the image column (as "{column}") and the version template. Checked against the source's columns.
 */
export function profileTemplates(profile: Pick<Profile, 'template' | 'input'>): string[] {
  const input = profile.input;
  return [
    ...(profile.template ? [profile.template] : []),
    ...(input ? [input.image, ...(input.image_version ? [input.image_version] : [])] : []),
  ];
}
