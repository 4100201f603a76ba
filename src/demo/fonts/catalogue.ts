import { ReembedError } from '../../errors.js';
import { categoryOf, isBold, isCondensed, isItalic, isLight, weightName, type FontCategory } from './category.js';
import { discoverFonts, SETUP_FONTS, type InstalledFace } from './discover.js';

/** One font of the story's catalogue: a row of its source table, without the glyph. */
export interface FontRecord {
  /** A slug of family and style (`liberation-serif-bold-italic`): stable across runs and machines. */
  id: string;
  /** Family and style, as a user reads it: `Liberation Serif Bold Italic`. */
  name: string;
  family: string;
  style: string;
  category: FontCategory;
  /** fontconfig's weight scale (see InstalledFace). */
  weight: number;
  italic: boolean;
  monospace: boolean;
  condensed: boolean;
  /** Words from the metadata: the weight's name (and bold or light), italic, condensed, monospace. */
  tags: string;
  file: string;
}

export const DEFAULT_CATALOGUE_SIZE = 200;

/**
 * Every installed face a font record, in discoverFonts' order; when there are more than
 * `size`, `size` of them evenly spaced over that order, so every family keeps some of its
 * faces and the categories keep their mix. Fewer than `size` faces is an error naming the
 * script that installs them: the story's query set needs the variety.
 */
export function buildCatalogue(options: { size?: number; faces?: InstalledFace[] } = {}): FontRecord[] {
  const size = options.size ?? DEFAULT_CATALOGUE_SIZE;
  const faces = options.faces ?? discoverFonts();
  if (faces.length < size) {
    throw new ReembedError(
      'FONTS_NOT_INSTALLED',
      `the font story needs ${size} installed TrueType/OpenType faces and fontconfig lists ${faces.length}; run ${SETUP_FONTS} (as root) to install the Debian font packages it uses`,
      { exitCode: 2, details: { needed: size, found: faces.length } },
    );
  }
  const picked = Array.from({ length: size }, (_, i) => faces[Math.floor((i * faces.length) / size)]!);
  const records = picked.map(fontRecord);
  // Two styles can slug alike ("Bold Italic" and "BoldItalic"); a suffix keeps ids unique.
  const seen = new Map<string, number>();
  for (const r of records) {
    const n = (seen.get(r.id) ?? 0) + 1;
    seen.set(r.id, n);
    if (n > 1) r.id = `${r.id}-${n}`;
  }
  return records;
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

export function fontRecord(face: InstalledFace): FontRecord {
  const category = categoryOf(face);
  const italic = isItalic(face.slant);
  const condensed = isCondensed(face.width);
  const monospace = category === 'mono';
  const weight = weightName(face.weight);
  const tags = [
    // "regular" says upright and normal weight: an italic face is not a regular one.
    weight === 'regular' && italic ? null : weight,
    isBold(face.weight) && weight !== 'bold' ? 'bold' : null,
    isLight(face.weight) && weight !== 'light' ? 'light' : null,
    italic ? 'italic' : null,
    condensed ? 'condensed' : null,
    monospace ? 'monospace' : null,
  ].filter((t): t is string => t !== null);
  return {
    id: slug(`${face.family} ${face.style}`),
    name: `${face.family} ${face.style}`,
    family: face.family,
    style: face.style,
    category,
    weight: face.weight,
    italic,
    monospace,
    condensed,
    tags: tags.join(' '),
    file: face.file,
  };
}
