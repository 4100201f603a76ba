/**
 * The multimodal request formats of real embedding services, one per `wire:` value. A wire
 * turns one batch of inputs (a text, an image, or both) into a request body and its answer
 * back into one vector per input; provider `multimodal` (embedders/multimodal.ts) sends it.
 *
 * - `jina`: POST /v1/embeddings, `input: [{text}, {image}]` (image as base64, or its URL
 *   with send_image_urls). Each item is
 *   embedded on its own, so an input with text and image is two items; its vector is the mean
 *   of their unit vectors (text and image in one space, equally weighted).
 * - `cohere`: POST /v2/embed, `inputs: [{content: [{type: "text"}, {type: "image_url"}]}]`
 *   with the image as a data URI and `embedding_types: ["float"]`: one vector per input.
 * - `voyage`: POST /v1/multimodalembeddings, `inputs: [{content: [{type: "text"},
 *   {type: "image_base64"}]}]` (or `{type: "image_url"}` with send_image_urls): one vector per input.
 */
import { z } from 'zod';
import type { Wire } from '../config/profile.js';
import type { EmbedImage, EmbedPurpose } from './embedder.js';

export interface WireInput {
  /** Empty when the input is its image alone. */
  text: string;
  image?: EmbedImage;
}

export interface WireRequest {
  model: string;
  /** Send images read from an http(s) URL by their URL (jina, voyage). */
  imageUrls?: boolean;
  /** Set when the profile sends `dimensions` (send_dimensions). */
  dims?: number;
  purpose: EmbedPurpose;
}

export interface WireFormat {
  /** Appended to the profile's base_url (the service root). */
  path: string;
  body(inputs: WireInput[], request: WireRequest): unknown;
  /** A zod schema of a successful answer. */
  schema: z.ZodType;
  /** One vector per input, from an answer that matched `schema`. */
  vectors(answer: unknown, inputs: WireInput[]): { vectors: number[][]; tokens?: number };
}

function dataUri(image: EmbedImage): string {
  return `data:${image.mime};base64,${Buffer.from(image.bytes).toString('base64')}`;
}

/** Content parts of one input: its text (when not empty), then its image. */
function parts<T>(input: WireInput, text: (t: string) => T, image: (i: EmbedImage) => T): T[] {
  return [...(input.text.trim() ? [text(input.text)] : []), ...(input.image ? [image(input.image)] : [])];
}

const vector = z.array(z.number());
const indexed = z.array(z.object({ index: z.number().int().nonnegative(), embedding: vector }));

/** An answer that matched the wire's schema but cannot be read as one vector per input. */
export class WireAnswerError extends Error {}

/**
 * The `data` list in index order (services may answer out of order). Its indexes must be
 * 0 … n−1, each once: an answer with a repeated index has the right count but would store
 * vectors under the wrong rows.
 */
function byIndex(data: { index: number; embedding: number[] }[]): number[][] {
  const sorted = [...data].sort((a, b) => a.index - b.index);
  const wrong = sorted.findIndex((d, i) => d.index !== i);
  if (wrong >= 0)
    throw new WireAnswerError(
      `data indexes are not 0 to ${data.length - 1} each once (${sorted.map((d) => d.index).join(', ')})`,
    );
  return sorted.map((d) => d.embedding);
}

/** The mean of unit vectors, or the first vector as it is when they cannot be averaged. */
function fuse(vectors: number[][]): number[] {
  if (vectors.length === 1) return vectors[0]!;
  const dims = vectors[0]!.length;
  // A wrong-sized or zero item passes through, so validation names it rather than a mean hiding it.
  const norms = vectors.map((v) => Math.hypot(...v));
  if (vectors.some((v, i) => v.length !== dims || !(norms[i]! > 0)))
    return vectors.find((v, i) => v.length !== dims || !(norms[i]! > 0))!;
  return Array.from(
    { length: dims },
    (_, j) => vectors.reduce((sum, v, i) => sum + v[j]! / norms[i]!, 0) / vectors.length,
  );
}

const jina: WireFormat = {
  path: '/v1/embeddings',
  body: (inputs, { model, dims, imageUrls }) => ({
    model,
    input: inputs.flatMap((input) =>
      parts<Record<string, string>>(
        input,
        (text) => ({ text }),
        (image) => ({ image: imageUrls && image.url ? image.url : Buffer.from(image.bytes).toString('base64') }),
      ),
    ),
    embedding_type: 'float',
    ...(dims ? { dimensions: dims } : {}),
  }),
  schema: z.object({ data: indexed, usage: z.object({ total_tokens: z.number() }).partial().optional() }),
  vectors(answer, inputs) {
    const a = answer as { data: { index: number; embedding: number[] }[]; usage?: { total_tokens?: number } };
    const items = byIndex(a.data);
    const counts = inputs.map(
      (input) =>
        parts(
          input,
          () => 1,
          () => 1,
        ).length,
    );
    const expected = counts.reduce((s, n) => s + n, 0);
    // A count mismatch is returned unfused (wrong length), so validation reports it.
    if (items.length !== expected) return { vectors: items, tokens: a.usage?.total_tokens };
    let at = 0;
    const vectors = counts.map((n) => fuse(items.slice(at, (at += n))));
    return { vectors, tokens: a.usage?.total_tokens };
  },
};

const cohere: WireFormat = {
  path: '/v2/embed',
  body: (inputs, { model, dims, purpose }) => ({
    model,
    input_type: purpose === 'query' ? 'search_query' : 'search_document',
    embedding_types: ['float'],
    inputs: inputs.map((input) => ({
      content: parts<Record<string, unknown>>(
        input,
        (text) => ({ type: 'text', text }),
        (image) => ({ type: 'image_url', image_url: { url: dataUri(image) } }),
      ),
    })),
    ...(dims ? { output_dimension: dims } : {}),
  }),
  schema: z.object({
    embeddings: z.object({ float: z.array(vector) }),
    meta: z
      .object({ billed_units: z.object({ input_tokens: z.number(), image_tokens: z.number() }).partial().optional() })
      .optional(),
  }),
  vectors(answer) {
    const a = answer as {
      embeddings: { float: number[][] };
      meta?: { billed_units?: { input_tokens?: number; image_tokens?: number } };
    };
    const billed = a.meta?.billed_units;
    const tokens = billed ? (billed.input_tokens ?? 0) + (billed.image_tokens ?? 0) : undefined;
    return { vectors: a.embeddings.float, tokens };
  },
};

const voyage: WireFormat = {
  path: '/v1/multimodalembeddings',
  body: (inputs, { model, dims, purpose, imageUrls }) => ({
    model,
    input_type: purpose,
    inputs: inputs.map((input) => ({
      content: parts<Record<string, string>>(
        input,
        (text) => ({ type: 'text', text }),
        (image): Record<string, string> =>
          imageUrls && image.url
            ? { type: 'image_url', image_url: image.url }
            : { type: 'image_base64', image_base64: dataUri(image) },
      ),
    })),
    ...(dims ? { output_dimension: dims } : {}),
  }),
  schema: z.object({ data: indexed, usage: z.object({ total_tokens: z.number() }).partial().optional() }),
  vectors(answer) {
    const a = answer as { data: { index: number; embedding: number[] }[]; usage?: { total_tokens?: number } };
    return { vectors: byIndex(a.data), tokens: a.usage?.total_tokens };
  },
};

export const WIRE_FORMATS: Record<Wire, WireFormat> = { jina, cohere, voyage };
