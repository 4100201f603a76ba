/**
 * `reembed serve` under load (issue 11): autocannon against POST /v1/search of a `reembed serve`
 * process on PostgreSQL, with the same searches through the library in this process in the same
 * run, as a ratio.
 *
 *  - Store: the managed source with REEMBED_BENCH_SERVE_DOCS (20,000) documents, two hash
 *    profiles (`base` 256 dims, `next` 384 dims) backfilled with HNSW indexes, a migration at
 *    **canary 25% with shadow sample 0.1**.
 *  - Server: the built CLI, `reembed serve --port 0`, in its own process (as deployed), logging
 *    at warn (no request lines, which would measure stderr).
 *  - Load: 1, 8, 32, 128 connections (REEMBED_BENCH_CALLERS), REEMBED_BENCH_SECONDS (60) each;
 *    each request a query of 200 and a subject of 10,000, k = 10. Per level: requests/s, p50/p99,
 *    errors and non-2xx (goal 0); the server's RSS at the end.
 *  - In-process: the same searches through `open()`'s facade in this process, the same number
 *    of closed-loop callers for the same time: q/s and p50/p99. Ratios: HTTP p50 − library p50 at
 *    1 (goal ≤ 1 ms), HTTP q/s ÷ library q/s at 32 (goal ≥ 0.7).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { Reembed } from '../src/index.js';
import { intFromEnv } from './lib/env.js';
import { intListFromEnv } from './lib/env-list.js';
import { emptyTally, runCallers } from './lib/load.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const DOCS = intFromEnv('REEMBED_BENCH_SERVE_DOCS', 20_000);
const LEVELS = intListFromEnv('REEMBED_BENCH_CALLERS', [1, 8, 32, 128]);
const SECONDS = intFromEnv('REEMBED_BENCH_SECONDS', 60);
const QUERIES = 200;
const SUBJECTS = 10_000;
const CANARY = 25;
const SHADOW = 0.1;
// The built package, as users run it (npm run bench builds first; src/version.ts reads the
// package.json beside dist/, which the compiled bench's own directory lacks).
const ROOT = new URL('../../../../', import.meta.url);
const BIN = fileURLToPath(new URL('bin/reembed.js', ROOT));
const { open } = (await import(new URL('dist/index.js', ROOT).href)) as typeof import('../src/index.js');

const MANIFEST = `source:
  managed: true
profiles:
  base:
    provider: hash
    dims: 256
  next:
    provider: hash
    dims: 384
environments:
  bench:
    profile: base
`;

const TOPICS = ['protein', 'galaxy', 'market', 'climate', 'vaccine', 'neuron', 'battery', 'river', 'language', 'orbit'];
const text = (i: number) =>
  `${TOPICS[i % 10]} ${TOPICS[(i * 7) % 10]} study ${i}: ${TOPICS[(i * 3) % 10]} effects measured in sample ${i % 97}`;
const queries = Array.from({ length: QUERIES }, (_, i) => `${TOPICS[i % 10]} ${TOPICS[(i * 3) % 10]} effects ${i}`);
const bodyOf = (i: number) =>
  JSON.stringify({ query: queries[i % QUERIES], k: 10, subject: `user-${(i * 7919) % SUBJECTS}` });

async function prepare(rb: Reembed): Promise<void> {
  for (let i = 0; i < DOCS; i += 1000)
    await rb.upsert(
      Array.from({ length: Math.min(1000, DOCS - i) }, (_, j) => ({ id: `doc-${i + j}`, content: text(i + j) })),
    );
  await rb.backfill.run('base', { index: true, workers: 2 });
  await rb.migration.plan('next');
  await rb.migration.start();
  await rb.backfill.run('next', { index: true, workers: 2 });
  await rb.migration.shadow(SHADOW);
  await rb.migration.ramp(CANARY, { force: true, reason: 'benchmark' });
}

function startServer(dir: string, url: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, [BIN, '--json', '--log-level', 'warn', 'serve', '--port', '0', '--db', url], {
    cwd: dir,
    env: { ...process.env, REEMBED_ENV: 'bench' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve({ child, base: (JSON.parse(line) as { listening: string }).listening });
    });
    child.on('exit', (code) => reject(new Error(`reembed serve exited (${code}): ${err}`)));
  });
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
}

async function http(base: string, connections: number) {
  let n = 0;
  const r = await autocannon({
    url: `${base}/v1/search`,
    connections,
    duration: SECONDS,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/v1/search',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: bodyOf(n++) }),
      },
    ],
  });
  return {
    qps: r['2xx'] / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: r['2xx'],
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

async function library(rb: Reembed, callers: number) {
  const tally = emptyTally();
  let n = 0;
  await runCallers(
    {
      callers,
      ms: SECONDS * 1000,
      maxPerCaller: 10_000_000,
      backoffMs: 10,
      search: () => {
        const i = n++;
        return rb.search(queries[i % QUERIES]!, { k: 10, subject: `user-${(i * 7919) % SUBJECTS}` });
      },
    },
    tally,
  );
  return {
    qps: tally.ok / tally.seconds,
    p50: tally.latency.quantile(0.5),
    p99: tally.latency.quantile(0.99),
    ok: tally.ok,
    errors: Object.values(tally.errors).reduce((a, b) => a + b, 0),
  };
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  const scratch = await createScratchDatabase(server.adminUrl);
  const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-serve-'));
  writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
  const rb = await open({
    config: join(dir, 'reembed.yaml'),
    db: scratch.url,
    env: { REEMBED_ENV: 'bench' },
    actor: 'bench',
    router: { lazy: true },
  });
  let child: ChildProcess | null = null;
  try {
    console.log(`preparing ${formatNumber(DOCS)} documents, two profiles, canary ${CANARY}% + shadow ${SHADOW}…`);
    await prepare(rb);
    const started = await startServer(dir, scratch.url);
    child = started.child;
    const levels: Array<{
      connections: number;
      http: Awaited<ReturnType<typeof http>>;
      library: Awaited<ReturnType<typeof library>>;
      loadavg: number[];
    }> = [];
    for (const c of LEVELS) {
      console.log(`${c} connection(s): HTTP ${SECONDS} s, then the library ${SECONDS} s`);
      const viaHttp = await http(started.base, c);
      const inProcess = await library(rb, c);
      levels.push({ connections: c, http: viaHttp, library: inProcess, loadavg: loadavg() });
    }
    const rss = rssMiB(child.pid!);
    const ms = (x: number | null) => (x === null ? '-' : x.toFixed(2));
    printTable(
      `reembed serve vs the library, ${formatNumber(DOCS)} docs on PostgreSQL, canary ${CANARY}% + shadow ${SHADOW}, ${SECONDS} s per side`,
      [
        'connections',
        'HTTP q/s',
        'HTTP p50 ms',
        'HTTP p99 ms',
        'errors',
        'non-2xx',
        'lib q/s',
        'lib p50 ms',
        'lib p99 ms',
        'q/s ratio',
      ],
      levels.map((l) => [
        String(l.connections),
        formatNumber(l.http.qps, 1),
        ms(l.http.p50),
        ms(l.http.p99),
        String(l.http.errors),
        String(l.http.non2xx),
        formatNumber(l.library.qps, 1),
        ms(l.library.p50),
        ms(l.library.p99),
        (l.http.qps / l.library.qps).toFixed(2),
      ]),
    );
    const at = (c: number) => levels.find((l) => l.connections === c);
    const one = at(1);
    const thirtyTwo = at(32);
    const goals = {
      p50OverheadAt1Ms: one && one.library.p50 !== null ? one.http.p50 - one.library.p50 : null,
      qpsRatioAt32: thirtyTwo ? thirtyTwo.http.qps / thirtyTwo.library.qps : null,
      errors: levels.reduce((a, l) => a + l.http.errors + l.http.non2xx, 0),
    };
    console.log(
      `\nserver RSS at the end: ${rss.toFixed(0)} MiB; HTTP p50 overhead at 1: ${goals.p50OverheadAt1Ms?.toFixed(2) ?? '-'} ms (goal ≤ 1); ` +
        `q/s ratio at 32: ${goals.qpsRatioAt32?.toFixed(2) ?? '-'} (goal ≥ 0.7); errors: ${goals.errors} (goal 0)`,
    );
    const file = writeResult('serve', {
      settings: { docs: DOCS, seconds: SECONDS, levels: LEVELS, canary: CANARY, shadow: SHADOW, queries: QUERIES },
      database: server.origin,
      levels,
      serverRssMiB: rss,
      goals,
    });
    console.log(`result: ${file}`);
  } finally {
    child?.kill('SIGTERM');
    await rb.close();
    await scratch.drop();
    server.stop();
  }
}

await main();
