import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

/** npm runs scripts from the package root, so results land in bench/results/ (git-ignored). */
const RESULTS_DIR = resolve(process.cwd(), 'bench', 'results');

export function formatNumber(value: number, fractionDigits = 0): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: fractionDigits,
    maximumFractionDigits: fractionDigits,
  });
}

/** A plain-text table: the first column left-aligned (labels), the others right-aligned (figures). */
export function printTable(title: string, headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${title}\n`);
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

export function packageVersion(name: string): string | undefined {
  try {
    const path = join(process.cwd(), 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** What a result depends on besides the code: recorded with every result file. */
export function machineInfo(): Record<string, unknown> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    pglite: packageVersion('@electric-sql/pglite'),
    pglitePgvector: packageVersion('@electric-sql/pglite-pgvector'),
  };
}

/** Writes one benchmark's result as JSON and returns the file's path. */
export function writeResult(benchmark: string, payload: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date()
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
  const file = join(RESULTS_DIR, `${benchmark}-${stamp}.json`);
  const body = { benchmark, finishedAt: new Date().toISOString(), machine: machineInfo(), ...payload };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}
