import type { ListImbalance } from '../reembed.js';

/** A plain text table with aligned columns. */
export function table(headers: string[], rows: Array<Array<string | number | boolean | null>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A figure to `digits` significant digits, without trailing zeros; `-` for none. */
export function significant(value: number | null, digits = 4): string {
  return value === null ? '-' : String(Number(value.toPrecision(digits)));
}

export function fixed(value: number, digits = 3): string {
  return value.toFixed(digits);
}

/**
 * Text from data (document ids, actors, reasons, provider messages) made safe for a terminal:
 * control characters but newline and tab are shown as \u escapes, so an id holding ESC
 * sequences cannot rewrite the screen or the title.
 */
export function printable(text: string): string {
  return text.replace(/[^\P{Cc}\n\t]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A size in bytes, in binary units (KiB, MiB, GiB): the one unit every command prints sizes in. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The sizes of an IVFFlat index's lists in one line (status, verify). */
export function listsLine(l: ListImbalance): string {
  const coverage = l.method === 'complete' ? 'all rows' : `${l.rowsCovered}/${l.storeRows} rows`;
  return `lists ${l.found}/${l.lists} found (${coverage}): min ${l.min}, p50 ${l.p50}, max ${l.max}, cv ${l.cv.toFixed(2)}`;
}

/**
 * `1,234,567 ($0.12)`: tokens, with their cost when the profile has a price; `~` marks a count
 * (and so a cost) that is partly estimated.
 */
export function formatCost(cost: { tokens: number; estimatedTokens?: number; usd: number | null }): string {
  const approx = cost.estimatedTokens ? '~' : '';
  const usd =
    cost.usd === null
      ? ''
      : ` (${approx}$${cost.usd < 0.01 && cost.usd > 0 ? cost.usd.toPrecision(2) : cost.usd.toFixed(2)})`;
  return `${approx}${cost.tokens.toLocaleString('en-US')}${usd}`;
}
