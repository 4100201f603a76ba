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
