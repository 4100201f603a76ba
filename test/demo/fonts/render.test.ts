import { Image } from '@napi-rs/canvas';
import { describe, expect, it } from 'vitest';
import { buildCatalogue } from '../../../src/demo/fonts/catalogue.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, renderGlyph } from '../../../src/demo/fonts/render.js';
import { ReembedError } from '../../../src/errors.js';

const decode = (png: Buffer) => {
  const image = new Image();
  image.src = png;
  return image;
};

describe('glyph rendering', () => {
  const fonts = buildCatalogue();
  const sample = [fonts[0]!, fonts[Math.floor(fonts.length / 2)]!, fonts[fonts.length - 1]!];

  it('renders a PNG of the glyph size that decodes', () => {
    for (const font of sample) {
      const png = renderGlyph(font.file);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      const image = decode(png);
      expect(image.width).toBe(GLYPH_WIDTH);
      expect(image.height).toBe(GLYPH_HEIGHT);
    }
  });

  it('gives the same bytes for the same font, and different glyphs for different fonts', () => {
    const [a, b] = sample;
    expect(renderGlyph(a!.file).equals(renderGlyph(a!.file))).toBe(true);
    expect(renderGlyph(a!.file).equals(renderGlyph(b!.file))).toBe(false);
  });

  it('fails an unreadable font file with a typed error', () => {
    expect(() => renderGlyph('/nonexistent/font.ttf')).toThrow(ReembedError);
  });
});
