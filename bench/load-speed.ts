/**
 * Benchmark `load`: `reembed load` of a JSON Lines file of ~1.7 KB documents into the managed
 * source on PostgreSQL, as a user runs it (the CLI, `--json`), rows/s as the command reports
 * them (the load itself, without start-up): a first load (every row inserted) and a re-load of
 * the same file with 1% of the documents changed (the incremental re-sync: 1% updated, the
 * rest unchanged). Each run on a fresh database.
 *
 * REEMBED_BENCH_LOAD_BASELINE=path/to/other/bin/reembed.js runs the same loads with another
 * build (an older commit, built elsewhere), alternating, for a before/after in one run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { intFromEnv } from './lib/env.js';
import { median } from './lib/measure.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const documents = intFromEnv('REEMBED_BENCH_LOAD_DOCS', 20_000);
const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 3);
const BIN = resolve(process.cwd(), 'bin', 'reembed.js');
const BASELINE = process.env.REEMBED_BENCH_LOAD_BASELINE;
const WORDS = ['vector', 'search', 'migration', 'embedding', 'model', 'index', 'recall', 'latency', 'the', 'of'];

function corpus(changed: (i: number) => boolean): string {
  const lines: string[] = [];
  let state = 1;
  for (let i = 0; i < documents; i++) {
    const words: string[] = [];
    let length = 0;
    while (length < 1650) {
      state = (state * 1103515245 + 12345) >>> 0;
      const word = WORDS[state % WORDS.length]!;
      words.push(word);
      length += word.length + 1;
    }
    const text = `${changed(i) ? 'Changed. ' : ''}${words.join(' ')}`;
    lines.push(JSON.stringify({ _id: `doc-${i}`, title: `Document ${i}`, text, metadata: { n: i } }));
  }
  return `${lines.join('\n')}\n`;
}

interface LoadJson {
  rows: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rowsPerSecond: number;
}

function load(bin: string, dir: string, url: string, file: string): LoadJson {
  const r = spawnSync(process.execPath, [bin, '-q', '--json', '--db', url, 'load', file], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`load ${file} exited ${r.status}: ${r.stderr}`.slice(0, 2000));
  return JSON.parse(r.stdout) as LoadJson;
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  const dir = mkdtempSync(join(tmpdir(), 'reembed-load-'));
  try {
    writeFileSync(join(dir, 'reembed.yaml'), 'source:\n  managed: true\nprofiles:\n  h: { provider: hash, dims: 8 }\n');
    writeFileSync(
      join(dir, 'first.jsonl'),
      corpus(() => false),
    );
    writeFileSync(
      join(dir, 'resync.jsonl'),
      corpus((i) => i % 100 === 0),
    );
    const builds = BASELINE
      ? [['after', BIN] as const, ['before', resolve(BASELINE)] as const]
      : [['after', BIN] as const];
    const runs = new Map<string, { first: number[]; resync: number[] }>(
      builds.map(([n]) => [n, { first: [], resync: [] }]),
    );
    for (let r = 0; r < repeats; r++) {
      for (const [name, bin] of builds) {
        const scratch = await createScratchDatabase(server.adminUrl);
        try {
          const first = load(bin, dir, scratch.url, 'first.jsonl');
          const resync = load(bin, dir, scratch.url, 'resync.jsonl');
          const changed = Math.ceil(documents / 100);
          if (first.inserted !== documents || resync.updated !== changed || resync.unchanged !== documents - changed) {
            throw new Error(`${name}: unexpected counts ${JSON.stringify({ first, resync })}`);
          }
          runs.get(name)!.first.push(first.rowsPerSecond);
          runs.get(name)!.resync.push(resync.rowsPerSecond);
        } finally {
          await scratch.drop();
        }
      }
    }
    console.log(
      `load: ${formatNumber(documents)} BEIR-shaped documents of about 1.7 KB, PostgreSQL (${server.origin}), ` +
        `rows/s as \`reembed load --json\` reports them; median of ${repeats} runs, builds alternating`,
    );
    const after = runs.get('after')!;
    printTable(
      'reembed load rows/s (median, min-max)',
      ['build', 'first load', 'min-max', 're-load, 1% changed', 'min-max'],
      [...runs].map(([name, r]) => [
        name,
        formatNumber(median(r.first)),
        `${formatNumber(Math.min(...r.first))}-${formatNumber(Math.max(...r.first))}`,
        formatNumber(median(r.resync)),
        `${formatNumber(Math.min(...r.resync))}-${formatNumber(Math.max(...r.resync))}`,
      ]),
    );
    const before = runs.get('before');
    if (before) {
      console.log(
        `\nafter / before: first load ${formatNumber(median(after.first) / median(before.first), 2)}x, ` +
          `re-load ${formatNumber(median(after.resync) / median(before.resync), 2)}x`,
      );
    }
    const file = writeResult('load', {
      config: { documents, repeats, baseline: BASELINE ?? null },
      runs: Object.fromEntries(runs),
    });
    console.log(`\nresult: ${file}`);
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
