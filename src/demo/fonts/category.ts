import type { InstalledFace } from './discover.js';

/** The story's four categories of type. */
export type FontCategory = 'serif' | 'sans' | 'mono' | 'display';
export const FONT_CATEGORIES: readonly FontCategory[] = ['serif', 'sans', 'mono', 'display'];

/**
 * fontconfig knows whether a face is monospaced (spacing 100) but not whether it has serifs or
 * is a display face, so the category comes from documented heuristics over its data:
 *
 * 1. mono: fontconfig's spacing is mono (100) or dual (90), or the family's name says so
 *    (Mono, Code, Courier, Consol…, Inconsolata, Hack) — some monospaced fonts do not declare it.
 * 2. display: script, handwriting and decorative families, named below (the Debian packages
 *    scripts/setup-fonts.sh installs), or with Script, Hand, Display or Comic in the name.
 * 3. serif: Serif, Roman, Garamond, Didot, Bookman, Libertine, Century or Old Standard in the
 *    name, or a known serif family below (metric clones and URW's PostScript serifs).
 * 4. sans: everything else (Sans, Gothic, Grotesque and the unnamed majority).
 */
const MONO_NAME = /\b(mono|code|courier|consol\w*|inconsolata|hack)\b/i;
const DISPLAY_NAME =
  /script|hand|display|comic|lobster|kristi|isabella|tomson|femke|ecolier|breip|kaffeesatz|z003|humor/i;
const SERIF_NAME =
  /serif|roman|garamond|didot|bookman|libertine|century|old standard|linden hill|caladea|accanthis|berenis|c059|p052/i;
const SANS_NAME = /sans/i;

export function categoryOf(face: Pick<InstalledFace, 'family' | 'spacing'>): FontCategory {
  if ((face.spacing !== null && face.spacing >= 90) || MONO_NAME.test(face.family)) return 'mono';
  if (DISPLAY_NAME.test(face.family)) return 'display';
  // "Sans" wins over a serif word: "DejaVu Sans" is no serif, "FreeSerif" no sans.
  if (SERIF_NAME.test(face.family) && !SANS_NAME.test(face.family)) return 'serif';
  return 'sans';
}

/** fontconfig's weight as a word (its own names, FC_WEIGHT_*), bucketed at the midpoints. */
export function weightName(weight: number): string {
  if (weight < 20) return 'thin';
  if (weight < 45) return 'extralight';
  if (weight < 65) return 'light';
  if (weight < 90) return 'regular';
  if (weight < 140) return 'medium';
  if (weight < 190) return 'semibold';
  if (weight < 203) return 'bold';
  if (weight < 208) return 'extrabold';
  return 'black';
}

/** Bold or heavier (semibold is not bold: a "bold" query means the bold faces). */
export const isBold = (weight: number) => weight >= 190;
export const isLight = (weight: number) => weight < 65;
/** fontconfig's slant: italic (100) and oblique (110) both read as italic to a user. */
export const isItalic = (slant: number) => slant >= 100;
/** Semicondensed or narrower. */
export const isCondensed = (width: number) => width <= 87;
