/**
 * Test images drawn with @napi-rs/canvas: a line of text on white, as a PNG (or JPEG), so
 * tests and benchmarks have real, decodable images that differ by content and style.
 */
import { createCanvas } from '@napi-rs/canvas';

export interface GlyphOptions {
  width?: number;
  height?: number;
  /** CSS font, e.g. "bold 40px sans-serif" (default "40px sans-serif"). */
  font?: string;
  format?: 'png' | 'jpeg' | 'webp' | 'gif';
}

export function glyphImage(text: string, options: GlyphOptions = {}): Buffer {
  const width = options.width ?? 256;
  const height = options.height ?? 64;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#000000';
  ctx.font = options.font ?? `${Math.round(height * 0.6)}px sans-serif`;
  ctx.textBaseline = 'middle';
  ctx.fillText(text, 4, height / 2);
  if (options.format === 'jpeg') return canvas.toBuffer('image/jpeg');
  if (options.format === 'webp') return canvas.toBuffer('image/webp');
  if (options.format === 'gif') return canvas.toBuffer('image/gif');
  return canvas.toBuffer('image/png');
}

/** A PNG signature followed by bytes that are no image: sniffed as PNG, fails to decode. */
export function brokenPng(): Buffer {
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.from('not really a png'),
  ]);
}
