/**
 * Benchmark `vs-langchain`: reembed beside LangChain.js `index()` (PGVectorStore +
 * PostgresRecordManager), in one run, on the same PostgreSQL server, the same corpus (synthetic
 * BEIR-shaped documents of about 1.7 KB) and the same embedder, in two settings:
 * - hash: the hash embedder in-process (LangChain wraps the same function);
 * - http: a local fake OpenAI-compatible server answering after 20 ms (in this parent process,
 *   so its CPU is no side's), reembed through its openai-compatible profile, LangChain through
 *   `OpenAIEmbeddings` with the local base URL.
 * Sides: reembed with its library defaults; LangChain at index()'s default batch; LangChain at
 * batch 1024 with requests of 256, maxConcurrency 4. Each run of a side is a child process of
 * its own on a fresh database (CPU and peak RSS per side); the sides alternate, the first one
 * rotating from round to round. Phases: initial sync, re-sync (1% changed, 0.5% deleted),
 * model change, search p50/p95. Every phase's counts are checked in the child (it fails loudly
 * otherwise), and with the http setting the parent also counts the texts the server embedded.
 *
 *   npm run bench -- vs-langchain                  # 20,000 documents, 3 rounds
 *   npm run bench -- vs-langchain --rows 100000    # the issue's 100k figure
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startFakeProvider, type FakeProvider } from '../test/helpers/fake-provider.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { median } from './lib/measure.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import {
  RESULT_PREFIX,
  makeQueries,
  writeCorpus,
  type ChildResult,
  type Job,
  type PhaseResult,
  type Setting,
  type Side,
} from './lib/vs-langchain.js';

const here = dirname(fileURLToPath(import.meta.url));
const SIDES: Side[] = ['reembed', 'langchain-default', 'langchain-1024x4'];
const SETTINGS = ['hash', 'http'] as const;
const PROVIDER_LATENCY_MS = 20;
const QUERIES = 200;
const WARMUP_QUERIES = 10;

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i]!.startsWith(`--${name}=`)) return args[i]!.slice(name.length + 3);
  }
  return undefined;
}

function rowsOption(): number {
  const raw = option('rows');
  if (raw === undefined) return intFromEnv('REEMBED_BENCH_VSLC_ROWS', 20_000);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1000) throw new Error(`--rows must be a whole number of at least 1000, got ${raw}`);
  return n;
}

const rows = rowsOption();
const rounds = Number(option('repeats') ?? intFromEnv('REEMBED_BENCH_REPEATS', 3));
const settings = listFromEnv('REEMBED_BENCH_VSLC_SETTINGS', [...SETTINGS], SETTINGS);

interface Run {
  round: number;
  order: number;
  result: ChildResult;
  /** 1-minute load average sampled every 2 s while the child ran. */
  load: { mean: number; max: number };
  /** Texts the fake server embedded during the run (http only). */
  providerTexts: number | null;
}

function childScript(side: Side): string {
  return join(here, 'child', side === 'reembed' ? 'vs-langchain-reembed.js' : 'vs-langchain-langchain.js');
}

function runChild(job: Job): Promise<{ result: ChildResult; load: Run['load'] }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', childScript(job.side)], {
      env: { ...process.env, REEMBED_BENCH_VSLC_JOB: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    const samples = [loadavg()[0]!];
    const sampler = setInterval(() => samples.push(loadavg()[0]!), 2000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(sampler);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) {
        reject(new Error(`${job.side} (${job.setting}) exited ${code ?? signal}: ${stdout.slice(-2000)}`));
        return;
      }
      const load = { mean: samples.reduce((a, b) => a + b, 0) / samples.length, max: Math.max(...samples) };
      resolvePromise({ result: JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult, load });
    });
  });
}

/** What the fake server must have embedded for one run: documents of every phase, plus every query. */
function expectedProviderTexts(side: Side, c: { documents: number; changed: number; deleted: number }): number {
  const live = c.documents - c.deleted;
  const modelChange = side === 'reembed' ? live : 0;
  return c.documents + c.changed + modelChange + QUERIES + WARMUP_QUERIES;
}

function version(path: string): string {
  try {
    return (
      JSON.parse(readFileSync(resolve(process.cwd(), 'node_modules', path, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return '?';
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

const phaseOf = (run: Run, name: PhaseResult['name']) => run.result.phases.find((p) => p.name === name)!;
const med = (runs: Run[], f: (r: Run) => number) => median(runs.map(f));
const rate = (p: PhaseResult) => p.inputDocuments / p.seconds;
const cpuPerRow = (p: PhaseResult) => p.cpuMicros / p.inputDocuments;
const MiB = 1024;

/** "; steps: initial sync load 1.2 s + backfill 9.0 s, …" for the phases a side reports steps of. */
function partsText(phases: PhaseResult[]): string {
  const described = phases
    .filter((p) => p.parts)
    .map(
      (p) =>
        `${p.name} ${Object.entries(p.parts!)
          .map(([k, s]) => `${k} ${s.toFixed(2)} s`)
          .join(' + ')}`,
    );
  return described.length > 0 ? `; steps: ${described.join(', ')}` : '';
}

async function main(): Promise<void> {
  // src/version.ts reads the package.json one level above src/: the bench-compiled copy needs one too.
  copyFileSync(resolve(process.cwd(), 'package.json'), resolve(here, '..', 'package.json'));
  const dir = mkdtempSync(join(tmpdir(), 'reembed-vslc-'));
  const server = await startBenchServer();
  let provider: FakeProvider | undefined;
  try {
    const files = { first: join(dir, 'first.jsonl'), resync: join(dir, 'resync.jsonl'), deletedIds: join(dir, 'del') };
    const corpus = writeCorpus(rows, files);
    const queries = makeQueries(QUERIES, 0);
    const warmupQueries = makeQueries(WARMUP_QUERIES, QUERIES);
    if (settings.includes('http')) provider = await startFakeProvider({ dims: 384, latencyMs: PROVIDER_LATENCY_MS });
    const probe = new pg.Client({ connectionString: server.adminUrl });
    await probe.connect();
    const { rows: v } = await probe.query<{ server: string; pgvector: string }>(
      "SELECT current_setting('server_version') AS server, (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS pgvector",
    );
    await probe.end();
    const versions = {
      reembed: gitCommit(),
      '@langchain/core': version('@langchain/core'),
      '@langchain/community': version('@langchain/community'),
      '@langchain/openai': version('@langchain/openai'),
      openai: version('@langchain/openai/node_modules/openai'),
      postgresql: v[0]!.server,
      pgvector: v[0]!.pgvector,
      node: process.version,
    };
    console.log(
      `vs-langchain: ${formatNumber(rows)} documents of ${formatNumber(corpus.bytes)} characters on average ` +
        `(re-sync: ${formatNumber(corpus.changed)} changed, ${formatNumber(corpus.deleted)} deleted), ${384} dims, ` +
        `settings ${settings.join(', ')}, ${rounds} round(s), sides alternating; PostgreSQL ${versions.postgresql} ` +
        `(${server.origin}, fsync on), pgvector ${versions.pgvector}; a fresh database and a child process per run\n` +
        `versions: ${Object.entries(versions)
          .map(([k, x]) => `${k} ${x}`)
          .join(', ')}`,
    );

    const runs = new Map<string, Run[]>();
    const key = (setting: Setting, side: Side) => `${setting}/${side}`;
    for (let round = 0; round < rounds; round++) {
      for (const setting of settings) {
        const order = SIDES.map((_, i) => SIDES[(i + round) % SIDES.length]!);
        for (const [position, side] of order.entries()) {
          const scratch = await createScratchDatabase(server.adminUrl);
          try {
            provider?.reset();
            const job: Job = {
              side,
              setting,
              databaseUrl: scratch.url,
              providerUrl: setting === 'http' ? provider!.openaiUrl : null,
              firstFile: files.first,
              resyncFile: files.resync,
              deletedIdsFile: files.deletedIds,
              documents: corpus.documents,
              changed: corpus.changed,
              deleted: corpus.deleted,
              queries,
              warmupQueries,
            };
            const { result, load } = await runChild(job);
            let providerTexts: number | null = null;
            if (setting === 'http') {
              providerTexts = provider!.requests.reduce((n, r) => n + r.inputs.length, 0);
              const expected = expectedProviderTexts(side, corpus);
              if (providerTexts !== expected) {
                throw new Error(`${side} (http): the server embedded ${providerTexts} texts, expected ${expected}`);
              }
            }
            const run: Run = { round, order: position, result, load, providerTexts };
            runs.set(key(setting, side), [...(runs.get(key(setting, side)) ?? []), run]);
            const [first, resync, change] = result.phases;
            console.log(
              `  round ${round + 1} ${setting} ${side}: initial ${first!.seconds.toFixed(1)} s ` +
                `(${formatNumber(rate(first!))} rows/s, ${formatNumber(cpuPerRow(first!))} µs CPU/row), ` +
                `re-sync ${resync!.seconds.toFixed(1)} s, model change ${change!.seconds.toFixed(1)} s ` +
                `(${formatNumber(change!.embedded)} re-embedded), search p50 ${result.search.p50Ms.toFixed(1)} ms, ` +
                `peak RSS ${formatNumber(result.maxRssKiB / MiB)} MiB, load ${load.mean.toFixed(1)} ` +
                `(max ${load.max.toFixed(1)}); checked: ${result.phases.map((p) => p.check).join(' | ')}; ` +
                `${result.search.check}` +
                (providerTexts === null ? '' : `; server embedded ${formatNumber(providerTexts)} texts as expected`) +
                partsText(result.phases),
            );
          } finally {
            await scratch.drop().catch(() => {});
          }
        }
      }
    }

    const note = rounds === 1 ? '1 run' : `median of ${rounds} interleaved runs`;
    for (const setting of settings) {
      const bySide = SIDES.map((side) => ({ side, runs: runs.get(key(setting, side))! }));
      printTable(
        `${setting === 'hash' ? 'In-process hash embedder' : `OpenAI-compatible server at ${PROVIDER_LATENCY_MS} ms`}, ` +
          `${formatNumber(rows)} documents (${note}; CPU = the side's own process, user + system)`,
        [
          'side',
          'initial rows/s',
          'CPU µs/row',
          're-sync s',
          're-sync CPU µs/row',
          'model change s',
          're-embedded',
          'search p50 ms',
          'p95 ms',
          'peak RSS MiB',
          'load',
        ],
        bySide.map(({ side, runs: r }) => [
          side,
          formatNumber(med(r, (x) => rate(phaseOf(x, 'initial sync')))),
          formatNumber(med(r, (x) => cpuPerRow(phaseOf(x, 'initial sync')))),
          formatNumber(
            med(r, (x) => phaseOf(x, 're-sync').seconds),
            2,
          ),
          formatNumber(med(r, (x) => cpuPerRow(phaseOf(x, 're-sync')))),
          formatNumber(
            med(r, (x) => phaseOf(x, 'model change').seconds),
            2,
          ),
          formatNumber(med(r, (x) => phaseOf(x, 'model change').embedded)),
          formatNumber(
            med(r, (x) => x.result.search.p50Ms),
            2,
          ),
          formatNumber(
            med(r, (x) => x.result.search.p95Ms),
            2,
          ),
          formatNumber(med(r, (x) => x.result.maxRssKiB / MiB)),
          formatNumber(
            med(r, (x) => x.load.mean),
            1,
          ),
        ]),
      );
      const reembed = bySide[0]!.runs;
      printTable(
        `Ratios reembed / LangChain, ${setting} (goals at 100k: rows/s >= 2x; with http CPU/row <= 0.5x; peak RSS <= 0.3x)`,
        ['vs', 'initial rows/s', 'initial CPU/row', 're-sync speed', 're-sync CPU/row', 'search p50', 'peak RSS'],
        bySide.slice(1).map(({ side, runs: r }) => {
          const ratio = (f: (x: Run) => number) => med(reembed, f) / med(r, f);
          return [
            side,
            `${formatNumber(
              ratio((x) => rate(phaseOf(x, 'initial sync'))),
              2,
            )}x`,
            `${formatNumber(
              ratio((x) => cpuPerRow(phaseOf(x, 'initial sync'))),
              2,
            )}x`,
            `${formatNumber(1 / ratio((x) => phaseOf(x, 're-sync').seconds), 2)}x`,
            `${formatNumber(
              ratio((x) => cpuPerRow(phaseOf(x, 're-sync'))),
              2,
            )}x`,
            `${formatNumber(
              ratio((x) => x.result.search.p50Ms),
              2,
            )}x`,
            `${formatNumber(
              ratio((x) => x.result.maxRssKiB),
              2,
            )}x`,
          ];
        }),
      );
    }
    const file = writeResult('vs-langchain', {
      config: {
        rows,
        rounds,
        settings,
        providerLatencyMs: PROVIDER_LATENCY_MS,
        queries: QUERIES,
        warmupQueries: WARMUP_QUERIES,
        corpus,
      },
      versions,
      runs: Object.fromEntries(runs),
    });
    console.log(`\nresult: ${file}`);
  } finally {
    await provider?.close();
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
