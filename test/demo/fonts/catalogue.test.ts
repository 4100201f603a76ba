import { describe, expect, it } from 'vitest';
import { buildCatalogue, DEFAULT_CATALOGUE_SIZE } from '../../../src/demo/fonts/catalogue.js';
import { categoryOf, FONT_CATEGORIES } from '../../../src/demo/fonts/category.js';
import { discoverFonts, type InstalledFace } from '../../../src/demo/fonts/discover.js';
import { ReembedError } from '../../../src/errors.js';

/** fc-list's output for the given faces, in the format discoverFonts asks for. */
function fcList(rows: string[][]): (format: string) => string {
  return (format) => {
    expect(format).toContain('%{family[0]}');
    return rows.map((r) => r.join('\t')).join('\n') + '\n';
  };
}

const face = (family: string, style: string, extra: Partial<InstalledFace> = {}): InstalledFace => ({
  file: `/fonts/${family}-${style}.ttf`,
  family,
  style,
  weight: 80,
  slant: 0,
  spacing: null,
  width: 100,
  ...extra,
});

describe('font discovery', () => {
  it('keeps TrueType and OpenType text faces, one per family and style, sorted', () => {
    const faces = discoverFonts(
      fcList([
        ['TrueType', 'Zeta Sans', 'Bold', '200', '0', '', '100', '/b/zeta-bold.ttf'],
        ['Type 1', 'Zeta Sans', 'Regular', '80', '0', '', '100', '/b/zeta.t1'],
        ['CFF', 'Alpha Serif', 'Italic', '80', '100', '', '100', '/b/alpha-italic.otf'],
        ['TrueType', 'Alpha Serif', 'Italic', '80', '100', '', '100', '/a/alpha-italic.ttf'],
        ['TrueType', 'Standard Symbols PS', 'Regular', '80', '0', '', '100', '/b/sym.ttf'],
        ['TrueType', 'Mono One', 'Regular', '80', '0', '100', '100', '/b/mono.ttf'],
      ]),
    );
    expect(faces.map((f) => `${f.family}/${f.style}`)).toEqual([
      'Alpha Serif/Italic',
      'Mono One/Regular',
      'Zeta Sans/Bold',
    ]);
    // The first file by path wins a duplicate.
    expect(faces[0]!.file).toBe('/a/alpha-italic.ttf');
    expect(faces[0]!.slant).toBe(100);
    expect(faces[1]!.spacing).toBe(100);
    expect(faces[2]!.spacing).toBeNull();
    expect(faces[2]!.weight).toBe(200);
  });

  it('lists this machine’s fonts (scripts/setup-fonts.sh installs them)', () => {
    const faces = discoverFonts();
    expect(faces.length).toBeGreaterThanOrEqual(DEFAULT_CATALOGUE_SIZE);
    const keys = faces.map((f) => `${f.family}\u0000${f.style}`.toLowerCase());
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('categories', () => {
  it('derives serif, sans, mono and display from fontconfig data and names', () => {
    expect(categoryOf({ family: 'Liberation Serif', spacing: null })).toBe('serif');
    expect(categoryOf({ family: 'DejaVu Sans', spacing: null })).toBe('sans');
    expect(categoryOf({ family: 'Caladea', spacing: null })).toBe('serif');
    expect(categoryOf({ family: 'Anything', spacing: 100 })).toBe('mono');
    expect(categoryOf({ family: 'Noto Sans Mono', spacing: null })).toBe('mono');
    expect(categoryOf({ family: 'Dancing Script', spacing: null })).toBe('display');
    expect(categoryOf({ family: 'Roboto', spacing: null })).toBe('sans');
  });
});

describe('the catalogue', () => {
  it('has 200 fonts of every category with unique ids, the same on every build', () => {
    const a = buildCatalogue();
    const b = buildCatalogue();
    expect(a).toHaveLength(DEFAULT_CATALOGUE_SIZE);
    expect(b).toEqual(a);
    expect(new Set(a.map((f) => f.id)).size).toBe(a.length);
    for (const category of FONT_CATEGORIES) expect(a.filter((f) => f.category === category).length).toBeGreaterThan(5);
    expect(a.some((f) => f.italic)).toBe(true);
    expect(a.some((f) => f.tags.includes('bold'))).toBe(true);
  });

  it('spreads a smaller selection over the whole list', () => {
    const faces = Array.from({ length: 10 }, (_, i) => face(`Family ${i}`, 'Regular'));
    const picked = buildCatalogue({ size: 5, faces });
    expect(picked.map((f) => f.family)).toEqual(['Family 0', 'Family 2', 'Family 4', 'Family 6', 'Family 8']);
  });

  it('describes a face by its metadata', () => {
    const [f] = buildCatalogue({
      size: 1,
      faces: [face('Liberation Mono', 'Bold Italic', { weight: 200, slant: 100, spacing: 100 })],
    });
    expect(f).toMatchObject({
      id: 'liberation-mono-bold-italic',
      name: 'Liberation Mono Bold Italic',
      category: 'mono',
      italic: true,
      monospace: true,
      tags: 'bold italic monospace',
    });
  });

  it('refuses too few fonts with a typed error naming the setup script', () => {
    const faces = [face('Only', 'Regular')];
    let error: unknown;
    try {
      buildCatalogue({ size: 2, faces });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReembedError);
    expect((error as ReembedError).code).toBe('FONTS_NOT_INSTALLED');
    expect((error as ReembedError).exitCode).toBe(2);
    expect((error as Error).message).toContain('scripts/setup-fonts.sh');
  });
});
