import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { ReembedError } from '../../errors.js';

/** What every glyph image shows: upper and lower case with ascenders and descenders, and digits. */
export const GLYPH_TEXT = 'Aa Bb Gg 0123';
export const GLYPH_WIDTH = 384;
export const GLYPH_HEIGHT = 96;
const FONT_PX = 56;

/** Aliases already registered in this process, by font file (registration is process-wide). */
const registered = new Map<string, string>();

function aliasFor(file: string): string {
  let alias = registered.get(file);
  if (alias) return alias;
  alias = `reembed-glyph-${registered.size + 1}`;
  // The font's own family name could collide with the same family's other styles or with a
  // system font of that name; a unique alias per file makes the canvas use exactly this file.
  if (!GlobalFonts.registerFromPath(file, alias)) {
    throw new ReembedError('FONT_UNREADABLE', `could not load the font file ${file} to render its glyphs`, {
      exitCode: 1,
      details: { file },
    });
  }
  registered.set(file, alias);
  return alias;
}

/**
 * The font's glyph image: GLYPH_TEXT in black on white, left-aligned on the baseline, as a
 * GLYPH_WIDTH × GLYPH_HEIGHT PNG. Text wider than the image is scaled down to fit, so wide
 * faces keep every glyph. The same file gives the same bytes on the same machine.
 */
export function renderGlyph(file: string): Buffer {
  const alias = aliasFor(file);
  const canvas = createCanvas(GLYPH_WIDTH, GLYPH_HEIGHT);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, GLYPH_WIDTH, GLYPH_HEIGHT);
  ctx.font = `${FONT_PX}px "${alias}"`;
  ctx.textBaseline = 'alphabetic';
  const width = ctx.measureText(GLYPH_TEXT).width;
  const margin = 8;
  const scale = width > GLYPH_WIDTH - 2 * margin ? (GLYPH_WIDTH - 2 * margin) / width : 1;
  ctx.setTransform(scale, 0, 0, scale, margin, GLYPH_HEIGHT * 0.7);
  ctx.fillStyle = '#000000';
  ctx.fillText(GLYPH_TEXT, 0, 0);
  return canvas.toBuffer('image/png');
}
