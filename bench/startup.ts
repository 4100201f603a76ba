/**
 * Benchmark `startup`: wall time of whole CLI commands, from spawning `node bin/reembed.js` to
 * its exit, beside `node -e ''` (the floor no command can go under), per command the median of
 * REEMBED_BENCH_REPEATS (default 10) runs after an untimed one. The commands alternate run by
 * run, so drift on a shared machine touches all of them alike; the ratio to `node -e ''` of the
 * same run is the figure to compare across machines.
 *
 * - `--help`: parsing and help text only (no manifest, no database);
 * - `migrate status` and `migrate ramp N` against a PostgreSQL server (REEMBED_BENCH_DATABASE_URL
 *   or a throwaway cluster) holding a migration in shadow, over 200 documents embedded by both
 *   hash profiles, so ramp runs its real readiness check (backfill, queue, coverage, verify).
 *   Each ramp goes one percent up (ramps only go upward).
 *
 * REEMBED_BENCH_STARTUP_BASELINE=path/to/other/bin/reembed.js adds the same commands run by
 * another build (an older commit, checked out and built elsewhere) to the same alternation, for
 * a before/after measured in one run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { intFromEnv } from './lib/env.js';
import { median } from './lib/measure.js';
import { startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 10);
const BIN = resolve(process.cwd(), 'bin', 'reembed.js');
const BASELINE = process.env.REEMBED_BENCH_STARTUP_BASELINE;
const DOCUMENTS = 200;

const MANIFEST = `database: .reembed
source:
  managed: true
profiles:
  hash_small: { provider: hash, dims: 64 }
  hash_large: { provider: hash, dims: 128 }
environments:
  development: { profile: hash_small }
`;

function run(cwd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (result.status !== 0) {
    throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}${result.stdout}`.slice(0, 2000));
  }
  return { ms, stdout: result.stdout };
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  const dir = mkdtempSync(join(tmpdir(), 'reembed-startup-'));
  const database = `reembed_startup_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(server.adminUrl);
    url.pathname = `/${database}`;
    const env = { ...process.env, REEMBED_DATABASE_URL: url.toString(), REEMBED_ENV: 'development' };
    writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
    const docs = Array.from({ length: DOCUMENTS }, (_, i) =>
      JSON.stringify({ id: `d${i}`, text: `document ${i} about vectors, models and migrations ${i % 17}` }),
    );
    writeFileSync(join(dir, 'docs.jsonl'), `${docs.join('\n')}\n`);
    const cli = (...args: string[]) => run(dir, [BIN, '-q', ...args], env);
    cli('init');
    cli('load', 'docs.jsonl');
    cli('backfill', '--profile', 'hash_small');
    cli('migrate', 'plan', '--to', 'hash_large');
    cli('migrate', 'start');
    cli('backfill', '--profile', 'hash_large');
    cli('migrate', 'shadow', '--sample', '0.1');

    let percent = 0;
    const builds = BASELINE ? [['', BIN] as const, ['baseline: ', resolve(BASELINE)] as const] : [['', BIN] as const];
    const commands: { name: string; args: () => string[] }[] = [
      { name: "node -e ''", args: () => ['-e', ''] },
      ...builds.flatMap(([label, bin]) => [
        { name: `${label}reembed --help`, args: () => [bin, '--help'] },
        { name: `${label}reembed migrate status`, args: () => [bin, '-q', 'migrate', 'status'] },
        { name: `${label}reembed migrate ramp N`, args: () => [bin, '-q', 'migrate', 'ramp', String(++percent)] },
      ]),
    ];
    const times = new Map(commands.map((c) => [c.name, [] as number[]]));
    for (let r = 0; r <= repeats; r++) {
      for (const c of commands) {
        const { ms } = run(dir, c.args(), env);
        if (r > 0) times.get(c.name)!.push(ms);
      }
    }
    const status = JSON.parse(run(dir, [BIN, '-q', '--json', 'migrate', 'status'], env).stdout) as {
      migration: { phase: string; percent: number };
    };
    if (status.migration.phase !== 'canary' || status.migration.percent !== percent) {
      throw new Error(`the ramps did not happen: ${JSON.stringify(status.migration)}`);
    }

    const floor = median(times.get("node -e ''")!);
    console.log(
      `startup: ${repeats} timed runs per command after an untimed one, alternating; ` +
        `database: ${server.origin} (PostgreSQL), ${DOCUMENTS} documents, a migration in shadow then canary`,
    );
    printTable(
      'Wall time of a whole command, spawn to exit (median; ratio to node -e "" of the same run)',
      ['command', 'median ms', 'min-max ms', 'vs node'],
      commands.map((c) => {
        const values = times.get(c.name)!;
        return [
          c.name,
          formatNumber(median(values)),
          `${formatNumber(Math.min(...values))}-${formatNumber(Math.max(...values))}`,
          `${formatNumber(median(values) / floor, 2)}x`,
        ];
      }),
    );
    const file = writeResult('startup', {
      config: { repeats, documents: DOCUMENTS, database: server.origin, baseline: BASELINE ?? null },
      medianMs: Object.fromEntries(commands.map((c) => [c.name, median(times.get(c.name)!)])),
      runs: Object.fromEntries(times),
    });
    console.log(`\nresult: ${file}`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    await admin.end();
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
