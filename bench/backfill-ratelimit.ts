/**
 * Benchmark `backfill-rate`: a backfill against a provider that enforces its own rate limit.
 * A local OpenAI-format server (bench/lib/rate-limited-provider.ts) answers after 50 ms and
 * sends 429 with Retry-After whenever the requests (or tokens) it accepted over a sliding
 * window would exceed its rpm (tpm) limit. The profile is configured with the same rpm and tpm,
 * so reembed's client-side limiter should keep the backfill just under the limit: the figures
 * are the throughput achieved as a fraction of the allowed one (target >= 0.9, and not above
 * 1 by more than a burst) and how many 429s the server had to send.
 *
 * The server's window decides what "over the limit" means: 60 s is the limit taken literally
 * (any minute), a shorter window is how providers say they enforce per-minute limits in
 * practice (quantized over shorter periods). Both are measured by default.
 */
import { performance } from 'node:perf_hooks';
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import { countCoverage } from '../src/backfill/coverage.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { loadCl100k } from '../src/embedders/tokens.js';
import { migrations } from '../src/schema.js';
import { storeLayout } from '../src/store/store.js';
import { articlesManifest, articlesSource, createSourceTable, getProfile, readSourceRows } from './lib/articles.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { intListFromEnv } from './lib/env-list.js';
import { createScratchDatabase, startBenchServer, type BenchServer } from './lib/postgres-cluster.js';
import { serverVector, startRateLimitedProvider, type RequestLog } from './lib/rate-limited-provider.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { verifyStore } from './lib/store-check.js';
import type { VectorSet } from './lib/vectors.js';

const BACKENDS = ['postgres', 'pglite'] as const;
const [backend] = listFromEnv('REEMBED_BENCH_RL_BACKEND', ['postgres'], BACKENDS);
const rpm = intFromEnv('REEMBED_BENCH_RL_RPM', 600);
const tpm = intFromEnv('REEMBED_BENCH_RL_TPM', 100_000);
const batchSize = intFromEnv('REEMBED_BENCH_RL_BATCH', 10);
const rows = intFromEnv('REEMBED_BENCH_RL_ROWS', 3000);
const latencyMs = intFromEnv('REEMBED_BENCH_RL_LATENCY_MS', 50);
const windowsSeconds = intListFromEnv('REEMBED_BENCH_RL_WINDOWS', [60, 10]);
const workerCounts = intListFromEnv('REEMBED_BENCH_RL_WORKERS', [2, 1]);
const DIMS = 384;
/** Timeline buckets, seconds. */
const BUCKET = 5;

interface Scenario {
  windowSeconds: number;
  workers: number;
  seconds: number;
  accepted: number;
  rejected429: number;
  clientRateLimited: number;
  deferredRows: number;
  tokensPerRequest: number;
  achievedRpm: number;
  achievedTpm: number;
  /** min(rpm, tpm / tokens per request): the request rate the provider allows for these inputs. */
  allowedRpm: number;
  achievedOverAllowed: number;
  /** Most requests the server accepted in any window of its length, vs what it allows per window. */
  peakWindowRequests: number;
  windowAllowance: number;
  maxInFlight: number;
  timeline: Array<{ from: number; accepted: number; rejected: number }>;
}

/** The stored vector the resilience layer makes of the server's answer (normalized as it does). */
function expectedVector(text: string): Float32Array {
  const v = serverVector(text, DIMS);
  let norm = 0;
  for (const x of v) norm += x * x;
  const scale = 1 / Math.sqrt(norm);
  return Float32Array.from(v, (x) => x * scale);
}

function peakInWindow(logs: RequestLog[], windowMs: number): number {
  let peak = 0;
  for (let lo = 0, hi = 0; hi < logs.length; hi++) {
    while (logs[lo]!.at <= logs[hi]!.at - windowMs) lo++;
    peak = Math.max(peak, hi - lo + 1);
  }
  return peak;
}

async function runScenario(db: Database, windowSeconds: number, workers: number): Promise<Scenario> {
  const cl100k = await loadCl100k();
  const windowMs = windowSeconds * 1000;
  const provider = await startRateLimitedProvider({
    dims: DIMS,
    latencyMs,
    rpm,
    tpm,
    windowMs,
    countTokens: (t) => cl100k.count(t),
  });
  try {
    await createSourceTable(db, rows);
    const manifest = articlesManifest({
      remote: {
        provider: 'openai-compatible',
        base_url: provider.openaiUrl,
        model: 'bench-rate-limited',
        dims: DIMS,
        batch_size: batchSize,
        rate_limit: { rpm, tpm },
      },
    });
    const source = await articlesSource(db, manifest);
    const profile = getProfile(manifest, 'remote');
    await prepareBackfill(db, source, profile, manifest.profiles);
    const started = performance.now();
    const run = await runBackfill(db, { source, profiles: [profile], workers });
    const seconds = Math.max(...run.workers.map((w) => w.seconds));

    // Verified: every row current, each embedded once, sampled rows as the server sent them.
    const coverage = await countCoverage(db, source, profile);
    if (coverage.current !== rows || coverage.ratio !== 1 || run.coverage.current !== rows) {
      throw new Error(`coverage is not exactly 100% of ${rows} rows: ${JSON.stringify(coverage)}`);
    }
    const data = await readSourceRows(db, source, profile);
    const last = rows - 1;
    const expected: VectorSet = { dims: DIMS, ids: data.ids, hashes: data.hashes, vectors: [] };
    for (const i of [0, last >> 1, last]) expected.vectors[i] = expectedVector(data.texts[i]!);
    await verifyStore(db, storeLayout(profile).table, expected, profile.fingerprint);

    const accepted = provider.accepted;
    const acceptedTexts = accepted.reduce((n, r) => n + r.inputs, 0);
    const embedded = run.workers.reduce((n, w) => n + w.rowsEmbedded, 0);
    if (embedded !== rows || acceptedTexts !== rows) {
      throw new Error(`embedded ${embedded} rows from ${acceptedTexts} accepted inputs; expected ${rows} of each`);
    }
    const tokens = accepted.reduce((n, r) => n + r.tokens, 0);
    const tokensPerRequest = tokens / accepted.length;
    const allowedRpm = Math.min(rpm, tpm / tokensPerRequest);
    const achievedRpm = (accepted.length / seconds) * 60;
    const buckets = Math.ceil(seconds / BUCKET);
    const timeline = Array.from({ length: buckets }, (_, b) => ({ from: b * BUCKET, accepted: 0, rejected: 0 }));
    const bucketOf = (r: RequestLog) =>
      Math.min(buckets - 1, Math.max(0, Math.floor((r.at - started) / 1000 / BUCKET)));
    for (const r of accepted) timeline[bucketOf(r)]!.accepted++;
    for (const r of provider.rejected) timeline[bucketOf(r)]!.rejected++;
    const scenario: Scenario = {
      windowSeconds,
      workers,
      seconds,
      accepted: accepted.length,
      rejected429: provider.rejected.length,
      clientRateLimited: run.workers.reduce((n, w) => n + w.rateLimited, 0),
      deferredRows: run.workers.reduce((n, w) => n + w.rowsDeferred, 0),
      tokensPerRequest,
      achievedRpm,
      achievedTpm: (tokens / seconds) * 60,
      allowedRpm,
      achievedOverAllowed: achievedRpm / allowedRpm,
      peakWindowRequests: peakInWindow(accepted, windowMs),
      windowAllowance: Math.floor((rpm * windowMs) / 60_000),
      maxInFlight: provider.maxInFlight,
      timeline,
    };
    console.log(
      `  window ${windowSeconds} s, ${workers} workers: ${formatNumber(rows)} rows in ${seconds.toFixed(1)} s, ` +
        `${formatNumber(achievedRpm)} requests/min of ${formatNumber(allowedRpm)} allowed ` +
        `(${scenario.achievedOverAllowed.toFixed(2)}), ${scenario.rejected429} x 429; coverage 100% (counted), samples verified`,
    );
    return scenario;
  } finally {
    await provider.close();
  }
}

async function withDatabase<T>(server: BenchServer | null, fn: (db: Database) => Promise<T>): Promise<T> {
  if (!server) {
    const db = await openDatabase('memory://', { migrations });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }
  const scratch = await createScratchDatabase(server.adminUrl);
  try {
    const db = await openDatabase(scratch.url, { migrations });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    await scratch.drop().catch(() => {});
  }
}

async function main(): Promise<void> {
  console.log(
    `rate-limited provider: ${formatNumber(rows)} rows, batch_size ${batchSize}, limits ${rpm} rpm and ` +
      `${formatNumber(tpm)} tpm on both sides, ${latencyMs} ms latency, server windows ${windowsSeconds.join(', ')} s, ` +
      `workers ${workerCounts.join(', ')}, ${backend}; at the limit the run takes about ` +
      `${Math.round((rows / batchSize / rpm) * 60)} s`,
  );
  const server = backend === 'postgres' ? await startBenchServer() : null;
  const scenarios: Scenario[] = [];
  try {
    for (const windowSeconds of windowsSeconds) {
      for (const workers of workerCounts) {
        scenarios.push(await withDatabase(server, (db) => runScenario(db, windowSeconds, workers)));
      }
    }
  } finally {
    server?.stop();
  }

  printTable(
    `Rate-limited provider (${rpm} rpm, ${formatNumber(tpm)} tpm, ${latencyMs} ms; achieved / allowed target >= 0.9)`,
    [
      'window',
      'workers',
      'seconds',
      'requests',
      'req/min',
      'allowed req/min',
      'achieved/allowed',
      'tokens/min',
      '429s sent',
      '429s seen by workers',
      'deferred rows',
      'peak per window',
    ],
    scenarios.map((s) => [
      `${s.windowSeconds} s`,
      String(s.workers),
      s.seconds.toFixed(1),
      formatNumber(s.accepted),
      formatNumber(s.achievedRpm),
      formatNumber(s.allowedRpm),
      formatNumber(s.achievedOverAllowed, 2),
      formatNumber(s.achievedTpm),
      formatNumber(s.rejected429),
      formatNumber(s.clientRateLimited),
      formatNumber(s.deferredRows),
      `${s.peakWindowRequests}/${s.windowAllowance}`,
    ]),
  );
  for (const s of scenarios) {
    printTable(
      `Timeline, window ${s.windowSeconds} s, ${s.workers} workers (requests per ${BUCKET} s; the limit allows ${formatNumber((s.allowedRpm * BUCKET) / 60)})`,
      ['from s', 'accepted', '429'],
      s.timeline.map((t) => [String(t.from), String(t.accepted), String(t.rejected)]),
    );
  }
  const file = writeResult('backfill-rate', {
    config: { backend, rpm, tpm, batchSize, rows, latencyMs, windowsSeconds, workerCounts, dims: DIMS },
    scenarios,
  });
  console.log(`\nresult: ${file}`);
}

await main();
