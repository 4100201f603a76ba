import { execFileSync } from 'node:child_process';
import { ReembedError } from '../../errors.js';

/** One installed font face as fontconfig describes it. */
export interface InstalledFace {
  file: string;
  family: string;
  style: string;
  /** fontconfig's weight scale: 0 thin, 40 extralight, 50 light, 80 regular, 100 medium, 180 semibold, 200 bold, 205 extrabold, 210 black. */
  weight: number;
  /** fontconfig's slant: 0 roman, 100 italic, 110 oblique. */
  slant: number;
  /** fontconfig's spacing: 100 mono, 90 dual width, absent (proportional) otherwise. */
  spacing: number | null;
  /** fontconfig's width: 100 normal, 87 semicondensed, 75 condensed. */
  width: number;
}

/** The script the error points at: it installs the Debian font packages the story expects. */
export const SETUP_FONTS = 'scripts/setup-fonts.sh';

// Fields separated by a character no font name holds; `%{family[0]}` is the first (English) name.
const FORMAT = '%{fontformat}\t%{family[0]}\t%{style[0]}\t%{weight}\t%{slant}\t%{spacing}\t%{width}\t%{file}\n';

/**
 * Faces that are not text: symbol, math, dingbat and initials fonts render "Aa Bb Gg 0123" as
 * pictures or boxes, so they would be noise in a search by appearance.
 */
const NOT_TEXT = /symbol|math|dingbat|initials|keyboard|awesome|d050000l|emoji/i;

/**
 * The TrueType and OpenType faces fontconfig lists (`fc-list`), Type 1 duplicates and
 * non-text faces left out, one face per family and style (the first file by path when a
 * package ships a face twice), sorted by family and style: the same list on every run of the
 * same machine.
 */
export function discoverFonts(run: (format: string) => string = runFcList): InstalledFace[] {
  const byKey = new Map<string, InstalledFace>();
  for (const line of run(FORMAT).split('\n')) {
    const face = parseLine(line);
    if (!face || NOT_TEXT.test(face.family) || NOT_TEXT.test(face.style)) continue;
    const key = `${face.family}\u0000${face.style}`.toLowerCase();
    const seen = byKey.get(key);
    if (!seen || face.file < seen.file) byKey.set(key, face);
  }
  return [...byKey.values()].sort(
    (a, b) => compare(a.family, b.family) || compare(a.style, b.style) || compare(a.file, b.file),
  );
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function parseLine(line: string): InstalledFace | null {
  const [format, family, style, weight, slant, spacing, width, file] = line.split('\t');
  if (!file || !family || !style) return null;
  if (format !== 'TrueType' && format !== 'CFF') return null;
  const number = (s: string | undefined, fallback: number) => {
    const n = Number.parseFloat(s ?? '');
    return Number.isFinite(n) ? n : fallback;
  };
  return {
    file,
    family: family.trim(),
    style: style.trim(),
    weight: number(weight, 80),
    slant: number(slant, 0),
    spacing: spacing ? number(spacing, 0) : null,
    width: number(width, 100),
  };
}

function runFcList(format: string): string {
  try {
    return execFileSync('fc-list', ['--format', format], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    throw new ReembedError(
      'FONTS_NOT_INSTALLED',
      `the font story lists installed fonts with fontconfig's fc-list, which failed (${(error as Error).message.split('\n')[0]}); run ${SETUP_FONTS} (as root) to install fontconfig and the font packages`,
      { exitCode: 2 },
    );
  }
}
