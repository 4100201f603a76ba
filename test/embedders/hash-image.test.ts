/**
 * The built-in hash-image provider: deterministic, the dims split into an image half and a
 * text half, appearance-sensitive (similar glyphs closer than different ones), text queries
 * in the text half alone, and bad input refused.
 */
import { describe, expect, it } from 'vitest';
import { createEmbedder } from '../../src/embedders/create.js';
import { EmptyInputError } from '../../src/embedders/errors.js';
import { hashImageSplit, HashImageProvider } from '../../src/embedders/hash-image.js';
import { HashProvider } from '../../src/embedders/hash.js';
import { IMAGE_FEATURES, imageFeatures } from '../../src/embedders/image-features.js';
import { ConfigError } from '../../src/errors.js';
import { glyphImage } from '../helpers/images.js';
import { cosine, makeProfile, norm } from './profile-helper.js';

const png = (font: string, text = 'Aa Bb Gg 0123') => ({ bytes: glyphImage(text, { font }), mime: 'image/png' });

describe('hash-image provider', () => {
  it('splits the dims into an image half and a text half', () => {
    expect(hashImageSplit(64)).toEqual({ image: 32, text: 32 });
    expect(hashImageSplit(4096)).toEqual({ image: 2048, text: 2048 });
    expect(hashImageSplit(7)).toEqual({ image: 3, text: 4 });
    expect(() => new HashImageProvider({ name: 'p', dims: 1 })).toThrow(ConfigError);
  });

  it('is deterministic and unit length; text alone is the hash of the text in the text half', async () => {
    const e = createEmbedder(makeProfile({ provider: 'hash-image', dims: 600 }));
    const image = png('bold 38px serif');
    const a = await e.embed(['Serif Bold', 'Serif Bold'], 'document', { images: [image, null] });
    const b = await e.embed(['Serif Bold'], 'document', { images: [image] });
    expect(Array.from(a.vectors[0]!)).toEqual(Array.from(b.vectors[0]!));
    expect(norm(a.vectors[0]!)).toBeCloseTo(1, 5);
    // Both halves carry weight √½ when there is an image and a text.
    expect(norm(a.vectors[0]!.slice(0, 300))).toBeCloseTo(Math.SQRT1_2, 5);
    // Without an image: the image half is empty and the text half is the hash provider's vector.
    const textOnly = a.vectors[1]!;
    expect(textOnly.slice(0, 300).every((x) => x === 0)).toBe(true);
    const hash = new HashProvider({ name: 'h', dims: 300 }).embedSync(['Serif Bold']).vectors[0]!;
    expect(Array.from(textOnly.slice(300))).toEqual(Array.from(hash));
  });

  it('places similar images closer than different ones (appearance only)', async () => {
    const e = createEmbedder(makeProfile({ provider: 'hash-image', dims: 2 * IMAGE_FEATURES }));
    const images = [png('38px serif'), png('37px serif'), png('bold italic 38px monospace', 'WWW iii')];
    const { vectors } = await e.embed(['', '', ''], 'document', { images });
    const [serif, nearSerif, far] = vectors as [Float32Array, Float32Array, Float32Array];
    expect(cosine(serif, nearSerif)).toBeGreaterThan(cosine(serif, far));
    // An image alone: the text half is empty.
    expect(serif.slice(IMAGE_FEATURES).every((x) => x === 0)).toBe(true);
  });

  it('folds the 288 image features into a smaller image half', async () => {
    const image = png('38px serif');
    const features = await imageFeatures(image.bytes);
    expect(features).toHaveLength(IMAGE_FEATURES);
    const e = createEmbedder(makeProfile({ provider: 'hash-image', dims: 20 }));
    const { vectors } = await e.embed([''], 'document', { images: [image] });
    const folded = new Float64Array(10);
    features.forEach((x, i) => (folded[i % 10]! += x));
    const n = Math.hypot(...folded);
    expect(Array.from(vectors[0]!.slice(0, 10))).toEqual(Array.from(Float32Array.from(folded, (x) => x / n)));
  });

  it('refuses an input with neither letters nor an image with ink', async () => {
    const e = createEmbedder(makeProfile({ provider: 'hash-image', dims: 32 }));
    const blank = { bytes: glyphImage(''), mime: 'image/png' };
    await expect(e.embed(['—'], 'document', { images: [blank] })).rejects.toThrow(EmptyInputError);
    await expect(e.embed([''], 'document')).rejects.toThrow(EmptyInputError);
  });
});
