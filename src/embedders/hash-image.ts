/**
 * The built-in `hash-image` provider: image + text, offline and deterministic, for demos and
 * tests. A STAND-IN: it captures what an image looks like (layout of ink, stroke directions;
 * embedders/image-features.ts), not what it shows, and the text as `hash` does (lexical).
 *
 * The vector's dims are split in two halves: the first floor(dims / 2) hold the image's 288
 * appearance features (folded by index modulo the half when it is smaller, zero beyond 288
 * when it is larger), the rest the `hash` features of the text. Each half is unit length and
 * scaled by √½, so a document with both is unit length and image and text weigh the same;
 * an input with only one of them (a text query) is that half alone. Cosine between a text
 * query and an image+text document is therefore the text similarity times √½.
 */
import { DEFAULT_HASH_OPTIONS, type HashOptions } from '../config/profile.js';
import { ConfigError } from '../errors.js';
import type { EmbedImage } from './embedder.js';
import { EmptyInputError } from './errors.js';
import { HashVectorizer } from './hash.js';
import { IMAGE_FEATURES, imageFeatures } from './image-features.js';
import type { ProviderBatchResult, ProviderClient } from './provider.js';

/** How a hash-image profile's dims are shared: [0, image) image features, [image, dims) text. */
export function hashImageSplit(dims: number): { image: number; text: number } {
  const image = Math.floor(dims / 2);
  return { image, text: dims - image };
}

export class HashImageProvider implements ProviderClient {
  readonly provider = 'hash-image' as const;
  readonly acceptsImages = true;
  private readonly vectorizer: HashVectorizer;
  private readonly split: { image: number; text: number };

  constructor(private readonly profile: { name: string; dims: number; hash?: HashOptions }) {
    if (profile.dims < 2) {
      throw new ConfigError(
        `profile ${profile.name}: provider hash-image needs dims of at least 2 (image and text halves)`,
      );
    }
    this.split = hashImageSplit(profile.dims);
    this.vectorizer = new HashVectorizer(this.split.text, profile.hash ?? DEFAULT_HASH_OPTIONS);
  }

  async embedBatch(
    texts: string[],
    _purpose: unknown,
    _signal?: AbortSignal,
    images?: ReadonlyArray<EmbedImage | undefined>,
  ): Promise<ProviderBatchResult> {
    const vectors: Float32Array[] = [];
    let tokens = 0;
    for (let i = 0; i < texts.length; i++) {
      const text = this.vectorizer.vectorize(texts[i]!);
      const image = images?.[i] ? await this.imagePart(images[i]!.bytes) : undefined;
      if (!text && !image) {
        throw new EmptyInputError(this.profile.name, i, 'has no letters or digits to hash and no image with ink');
      }
      tokens += text?.words ?? 0;
      vectors.push(this.combine(image, text?.vector));
    }
    return { vectors, tokens };
  }

  /** The image half (length split.image), unit length, or undefined for a blank image. */
  private async imagePart(bytes: Uint8Array): Promise<Float64Array | undefined> {
    const features = await imageFeatures(bytes);
    const half = new Float64Array(this.split.image);
    for (let i = 0; i < IMAGE_FEATURES; i++) half[i % this.split.image]! += features[i]!;
    let norm = 0;
    for (const v of half) norm += v * v;
    if (norm === 0) return undefined;
    for (let i = 0; i < half.length; i++) half[i]! /= Math.sqrt(norm);
    return half;
  }

  private combine(image: Float64Array | undefined, text: Float32Array | undefined): Float32Array {
    const out = new Float32Array(this.profile.dims);
    const weight = image && text ? Math.SQRT1_2 : 1;
    if (image) for (let i = 0; i < image.length; i++) out[i] = image[i]! * weight;
    if (text) for (let i = 0; i < text.length; i++) out[this.split.image + i] = text[i]! * weight;
    return out;
  }
}
