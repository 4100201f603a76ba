/**
 * Benchmark `backfill-rss`: the peak memory of a backfill worker process at 10,000 and at
 * 200,000 rows. A worker pages through its chunks, so its memory should not grow with the
 * table (target: the two peaks within 50 MB). Each size runs the real CLI in a child process,
 * `reembed backfill --profile P --db URL --config FILE --no-index --json`, against a fresh
 * PostgreSQL database with an attach-mode table of that many rows and a 384-dim hash profile.
 *
 * The child's peak RSS comes from the child itself: a module preloaded with `node --import`
 * writes getrusage's maxRSS at exit (nothing in the CLI changes). The parent also samples
 * /proc/<pid>/status (VmRSS, VmHWM) while the child runs, for the shape over time.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { countCoverage } from '../src/backfill/coverage.js';
import { openDatabase } from '../src/db/open.js';
import { migrations } from '../src/schema.js';
import { ARTICLES_SOURCE, articlesManifest, articlesSource, createSourceTable, getProfile } from './lib/articles.js';
import { intFromEnv } from './lib/env.js';
import { intListFromEnv } from './lib/env-list.js';
import { createScratchDatabase, startBenchServer, type BenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const here = dirname(fileURLToPath(import.meta.url));
const sizes = intListFromEnv('REEMBED_BENCH_RSS_ROWS', [10_000, 200_000]);
const dims = intFromEnv('REEMBED_BENCH_RSS_DIMS', 384);
/** The CLI script the child runs: the bench-compiled entry by default, or e.g. bin/reembed.js. */
const cli = process.env.REEMBED_BENCH_CLI ? resolve(process.env.REEMBED_BENCH_CLI) : join(here, 'child', 'cli.js');
const preload = pathToFileURL(join(here, 'child', 'report-rss.js')).href;
/**
 * src/version.ts reads the package.json one level above src/; the bench-compiled copy needs one
 * there too. npm runs scripts from the package root, where the original is.
 */
const PACKAGE_JSON = { from: resolve(process.cwd(), 'package.json'), to: resolve(here, '..', 'package.json') };
const SAMPLE_MS = 200;
const PROFILE = 'rss';
const MiB = 2 ** 20;

interface Sample {
  t: number;
  rssKiB: number;
  hwmKiB: number;
}

interface ChildReport {
  code: number;
  maxRssKiB: number;
  rssAtExit: number;
  heapUsedAtExit: number;
  heapTotalAtExit: number;
  externalAtExit: number;
  arrayBuffersAtExit: number;
}

interface SizeResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMiB: number;
  sampledHwmMiB: number;
  /** The sampled RSS at 25, 50, 75 and 100% of the run (last sample). */
  rssAtQuarterMiB: number[];
  heapUsedAtExitMiB: number;
  child: ChildReport;
  cliResult: Record<string, unknown>;
  samples: Sample[];
}

function readStatus(pid: number): { rssKiB: number; hwmKiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rssKiB = field('VmRSS');
    const hwmKiB = field('VmHWM');
    return Number.isFinite(rssKiB) ? { rssKiB, hwmKiB } : null;
  } catch {
    return null;
  }
}

/** Runs the CLI with the preload; resolves with its exit code, stdout, stderr's tail and the samples. */
function runChild(
  args: string[],
  rssFile: string,
): Promise<{ code: number; stdout: string; stderrTail: string; samples: Sample[]; seconds: number }> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', preload, cli, ...args], {
      env: { ...process.env, REEMBED_BENCH_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const samples: Sample[] = [];
    const timer = setInterval(() => {
      const status = child.pid ? readStatus(child.pid) : null;
      if (status) samples.push({ t: (performance.now() - started) / 1000, ...status });
    }, SAMPLE_MS);
    child.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      resolvePromise({
        code: code ?? (signal ? 128 : 1),
        stdout,
        stderrTail: stderr,
        samples,
        seconds: (performance.now() - started) / 1000,
      });
    });
  });
}

function manifestYaml(): string {
  return stringify({ source: { ...ARTICLES_SOURCE }, profiles: { [PROFILE]: { provider: 'hash', dims } } });
}

async function measureSize(server: BenchServer, rows: number, dir: string): Promise<SizeResult> {
  const scratch = await createScratchDatabase(server.adminUrl);
  try {
    const db = await openDatabase(scratch.url, { migrations });
    try {
      await createSourceTable(db, rows);
      const config = join(dir, `reembed-${rows}.yaml`);
      writeFileSync(config, manifestYaml());
      const rssFile = join(dir, `rss-${rows}.json`);
      const args = ['backfill', '--profile', PROFILE, '--db', scratch.url, '--config', config, '--no-index', '--json'];
      const run = await runChild(args, rssFile);
      if (run.code !== 0) throw new Error(`reembed backfill exited ${run.code}:\n${run.stderrTail}`);
      const child = JSON.parse(readFileSync(rssFile, 'utf8')) as ChildReport;
      const cliResult = JSON.parse(run.stdout) as { embedded: number; coverage: { current: number; ratio: number } };

      // Verified: the CLI's own report, and coverage counted again from here.
      const manifest = articlesManifest({ [PROFILE]: { provider: 'hash', dims } });
      const coverage = await countCoverage(db, await articlesSource(db, manifest), getProfile(manifest, PROFILE));
      if (
        cliResult.embedded !== rows ||
        cliResult.coverage.ratio !== 1 ||
        coverage.current !== rows ||
        coverage.ratio !== 1
      ) {
        throw new Error(
          `backfill of ${rows} rows: CLI embedded ${cliResult.embedded}, coverage ${JSON.stringify(coverage)}`,
        );
      }

      const samples = run.samples;
      const quarter = (q: number) => {
        const target = run.seconds * q;
        const s = samples.find((x) => x.t >= target) ?? samples.at(-1);
        return (s?.rssKiB ?? NaN) / 1024;
      };
      const seconds = Number((cliResult as { seconds?: number }).seconds ?? run.seconds);
      const result: SizeResult = {
        rows,
        seconds,
        rowsPerSecond: rows / seconds,
        peakRssMiB: child.maxRssKiB / 1024,
        sampledHwmMiB: Math.max(0, ...samples.map((s) => s.hwmKiB)) / 1024,
        rssAtQuarterMiB: [0.25, 0.5, 0.75, 1].map(quarter),
        heapUsedAtExitMiB: child.heapUsedAtExit / MiB,
        child,
        cliResult,
        samples,
      };
      console.log(
        `  ${formatNumber(rows)} rows: ${seconds.toFixed(1)} s (${formatNumber(result.rowsPerSecond)} rows/s), ` +
          `peak RSS ${result.peakRssMiB.toFixed(1)} MiB; coverage 100% (counted)`,
      );
      return result;
    } finally {
      await db.close();
    }
  } finally {
    await scratch.drop().catch(() => {});
  }
}

/** The CLI starting and exiting without work (`--version`): the floor under every figure. */
async function measureBaseline(dir: string): Promise<number> {
  const rssFile = join(dir, 'rss-baseline.json');
  const run = await runChild(['--version'], rssFile);
  if (run.code !== 0) throw new Error(`reembed --version exited ${run.code}: ${run.stderrTail}`);
  return (JSON.parse(readFileSync(rssFile, 'utf8')) as ChildReport).maxRssKiB / 1024;
}

async function main(): Promise<void> {
  console.log(
    `worker peak RSS: reembed backfill (CLI, child process, 1 worker, --no-index) of ${sizes.map((s) => formatNumber(s)).join(' and ')} rows, ` +
      `hash profile ${dims} dims, PostgreSQL; CLI: ${cli}`,
  );
  if (!process.env.REEMBED_BENCH_CLI) copyFileSync(PACKAGE_JSON.from, PACKAGE_JSON.to);
  const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-rss-'));
  const server = await startBenchServer();
  const results: SizeResult[] = [];
  let baselineMiB: number;
  try {
    baselineMiB = await measureBaseline(dir);
    for (const rows of sizes) results.push(await measureSize(server, rows, dir));
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const first = results[0]!;
  const lastResult = results.at(-1)!;
  const growth = lastResult.peakRssMiB - first.peakRssMiB;
  printTable(
    `Peak RSS of a backfill worker process (getrusage maxRSS reported by the child; CLI start-up alone: ${baselineMiB.toFixed(1)} MiB)`,
    [
      'rows',
      'seconds',
      'rows/s',
      'peak RSS MiB',
      'RSS at 25/50/75/100% of the run, MiB',
      'at exit: heap used / heap total / external MiB',
    ],
    results.map((r) => [
      formatNumber(r.rows),
      r.seconds.toFixed(1),
      formatNumber(r.rowsPerSecond),
      r.peakRssMiB.toFixed(1),
      r.rssAtQuarterMiB.map((x) => x.toFixed(0)).join(' / '),
      [r.child.heapUsedAtExit, r.child.heapTotalAtExit, r.child.externalAtExit]
        .map((b) => (b / MiB).toFixed(1))
        .join(' / '),
    ]),
  );
  if (results.length > 1) {
    console.log(
      `\npeak RSS at ${formatNumber(lastResult.rows)} rows - at ${formatNumber(first.rows)} rows: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB ` +
        `(target: within 50 MB, i.e. ${(50e6 / MiB).toFixed(1)} MiB) -> ${Math.abs(growth) * MiB <= 50e6 ? 'met' : 'NOT met'}`,
    );
  }
  const file = writeResult('backfill-rss', {
    config: { sizes, dims, cli, sampleMs: SAMPLE_MS, workers: 1, index: false },
    baselineMiB,
    growthMiB: growth,
    results,
  });
  console.log(`\nresult: ${file}`);
}

await main();
