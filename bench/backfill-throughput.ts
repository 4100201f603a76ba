/**
 * Benchmark `backfill`: rows/s of a whole backfill — prepareBackfill + runBackfill over an
 * attach-mode source table, with a zero-latency embedder inside the normal resilience layer —
 * beside binary COPY of the same vectors into a store table of the same shape, in the same
 * run. The ratio backfill/COPY says how much of the database's bulk-load speed the backfill
 * machinery (candidate SELECTs, embedding pipeline, guarded writes, leases) leaves on the
 * table. PostgreSQL with 1 and 2 in-process workers, PGlite in memory with 1.
 *
 * Every run is verified: coverage counted by countCoverage must be exactly 100%, every row
 * embedded exactly once, and sampled rows read back bit for bit; the COPY side likewise.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { prepareBackfill, runBackfill, type BackfillRun } from '../src/backfill/backfill.js';
import { countCoverage, type Coverage } from '../src/backfill/coverage.js';
import { DEFAULT_CHUNK_SIZE } from '../src/backfill/plan.js';
import { DEFAULT_PAGE_SIZE } from '../src/backfill/worker.js';
import type { Manifest } from '../src/config/manifest.js';
import type { Profile } from '../src/config/profile.js';
import type { Database } from '../src/db/database.js';
import { runMigrations } from '../src/db/migrations.js';
import { openDatabase } from '../src/db/open.js';
import { vectorLiteral } from '../src/db/sql.js';
import { createEmbedder } from '../src/embedders/create.js';
import { migrations } from '../src/schema.js';
import type { Source } from '../src/source/source.js';
import { PROFILES_TABLE, ensureStore, storeLayout } from '../src/store/store.js';
import { checkVector } from '../src/store/write.js';
import {
  articlesManifest,
  articlesSource,
  createSourceTable,
  getProfile,
  readSourceRows,
  type SourceRows,
} from './lib/articles.js';
import { copyIntoPglite, copyIntoPostgres, openRawPglite } from './lib/copy-into.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { intListFromEnv } from './lib/env-list.js';
import { collectGarbage, median, timed } from './lib/measure.js';
import { createScratchDatabase, startBenchServer, type BenchServer } from './lib/postgres-cluster.js';
import { makeVectorPool, poolProvider, type VectorPool } from './lib/precomputed-provider.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { verifyStore } from './lib/store-check.js';
import { PHASES, PHASE_LABELS, timedDatabase, type Phase, type PhaseTimes } from './lib/timed-database.js';
import type { VectorSet } from './lib/vectors.js';

const BACKENDS = ['pglite', 'postgres'] as const;
type Backend = (typeof BACKENDS)[number];
const backends = listFromEnv('REEMBED_BENCH_BACKENDS', [...BACKENDS], BACKENDS);
const rows = intFromEnv('REEMBED_BENCH_BACKFILL_ROWS', 100_000);
const dimsList = intListFromEnv('REEMBED_BENCH_DIMS', [384, 1536]);
const postgresWorkers = intListFromEnv('REEMBED_BENCH_WORKERS', [1, 2]);
const pageSize = intFromEnv('REEMBED_BENCH_PAGE_SIZE', DEFAULT_PAGE_SIZE);
const chunkSize = intFromEnv('REEMBED_BENCH_CHUNK_SIZE', DEFAULT_CHUNK_SIZE);
const copyPasses = intFromEnv('REEMBED_BENCH_COPY_PASSES', 3);
/** Pages in flight per worker (0: the worker's default). */
const pipelineDepth = intFromEnv('REEMBED_BENCH_PIPELINE_DEPTH', 0);

/** The backfilled profile and the COPY target: same settings, so the same fingerprint and hashes. */
const BACKFILL = 'bf';
const COPY = 'cp';

function manifestFor(dims: number): Manifest {
  return articlesManifest({ [BACKFILL]: { provider: 'hash', dims }, [COPY]: { provider: 'hash', dims } });
}

interface BackfillResult {
  /** prepareBackfill: store, capture triggers, chunk plan. */
  prepareSeconds: number;
  /** Until the last worker returned (runBackfill's final coverage count excluded). */
  drainSeconds: number;
  /** prepare + drain: the figure rows/s is computed from. */
  seconds: number;
  /** runBackfill as a whole, its final countCoverage included. */
  runBackfillSeconds: number;
  rowsPerSecond: number;
  workers: Array<{ rowsEmbedded: number; seconds: number }>;
  providerRequests: number;
  phases: PhaseTimes;
  coverage: Coverage;
}

interface CopyResult {
  passSeconds: number[];
  seconds: number;
  rowsPerSecond: number;
}

interface Measurement {
  backend: Backend;
  dims: number;
  workers: number;
  rows: number;
  order: Array<'backfill' | 'copy'>;
  backfill: BackfillResult;
  copy: CopyResult;
  /** backfill rows/s ÷ COPY rows/s, this measurement's two figures. */
  ratio: number;
}

function checkCoverage(what: string, coverage: Coverage, expected: number): void {
  if (
    coverage.sourceRows !== expected ||
    coverage.current !== expected ||
    coverage.stale !== 0 ||
    coverage.missing !== 0 ||
    coverage.ratio !== 1
  ) {
    throw new Error(`${what}: coverage is not exactly 100% of ${expected} rows: ${JSON.stringify(coverage)}`);
  }
}

/** The source rows as a COPY payload: the pool vector the provider returns for each row's text. */
function copySet(data: SourceRows, pool: VectorPool): VectorSet {
  return { dims: pool.dims, ids: data.ids, hashes: data.hashes, vectors: data.texts.map((t) => pool.vectorFor(t)) };
}

async function checkpoint(db: Database): Promise<void> {
  // Flushes the previous measurement's dirty pages off this one's clock. Needs superuser or
  // pg_checkpoint; without it the figures are just noisier. PGlite in memory has nothing to flush.
  if (db.kind === 'postgres') await db.exec('CHECKPOINT').catch(() => {});
}

async function measureBackfill(
  db: Database,
  manifest: Manifest,
  source: Source,
  pool: VectorPool,
  data: SourceRows,
  workers: number,
): Promise<BackfillResult> {
  const profile = getProfile(manifest, BACKFILL);
  const counter = { requests: 0, texts: 0 };
  const embedderOptions = { provider: poolProvider(pool, counter) };
  const timedDb = timedDatabase(db);
  await checkpoint(db);
  collectGarbage();
  const started = performance.now();
  await prepareBackfill(timedDb.db, source, profile, manifest.profiles, { chunkSize });
  const prepareSeconds = (performance.now() - started) / 1000;
  timedDb.reset();
  const run: BackfillRun = await runBackfill(timedDb.db, {
    source,
    profiles: [profile],
    workers,
    pageSize,
    ...(pipelineDepth > 0 ? { pipelineDepth } : {}),
    embedderOptions,
  });
  const drainSeconds = Math.max(...run.workers.map((w) => w.seconds));
  const phases = structuredClone(timedDb.times);

  // Verification, off the clock.
  checkCoverage('backfill (runBackfill)', run.coverage, rows);
  const coverage = await countCoverage(db, source, profile);
  checkCoverage('backfill (countCoverage)', coverage, rows);
  const embedded = run.workers.reduce((n, w) => n + w.rowsEmbedded, 0);
  const deferred = run.workers.reduce((n, w) => n + w.rowsDeferred, 0);
  if (embedded !== rows || deferred !== 0) {
    throw new Error(`backfill embedded ${embedded} rows (expected each of ${rows} exactly once), deferred ${deferred}`);
  }
  if (counter.texts !== rows) throw new Error(`the provider was asked for ${counter.texts} texts, expected ${rows}`);
  // Sampled rows must hold exactly what the resilience layer makes of the provider's answer.
  // verifyStore reads the first, middle and last rows only, so only those need an expectation.
  const last = data.ids.length - 1;
  const expected: VectorSet = { dims: pool.dims, ids: data.ids, hashes: data.hashes, vectors: [] };
  const embedder = createEmbedder(profile, embedderOptions);
  for (const i of [0, last >> 1, last]) {
    expected.vectors[i] = (await embedder.embed([data.texts[i]!], 'document')).vectors[0]!;
  }
  await verifyStore(db, storeLayout(profile).table, expected, profile.fingerprint);

  const seconds = prepareSeconds + drainSeconds;
  return {
    prepareSeconds,
    drainSeconds,
    seconds,
    runBackfillSeconds: run.seconds,
    rowsPerSecond: rows / seconds,
    workers: run.workers.map((w) => ({ rowsEmbedded: w.rowsEmbedded, seconds: w.seconds })),
    providerRequests: counter.requests,
    phases,
    coverage,
  };
}

/** After a COPY: counted coverage exactly 100%, rows read back; then the store is dropped again. */
async function verifyCopyAndDrop(db: Database, source: Source, profile: Profile, set: VectorSet): Promise<void> {
  const { table } = storeLayout(profile);
  try {
    checkCoverage('COPY', await countCoverage(db, source, profile), rows);
    await verifyStore(db, table, set, profile.fingerprint);
  } finally {
    await db.exec(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`DELETE FROM ${PROFILES_TABLE} WHERE name = $1`, [profile.name]);
  }
}

function summarizeCopy(passSeconds: number[]): CopyResult {
  const seconds = median(passSeconds);
  return { passSeconds, seconds, rowsPerSecond: rows / seconds };
}

/** One scratch database per measurement: source table, backfill and COPY passes side by side. */
async function measurePostgres(
  server: BenchServer,
  dims: number,
  workers: number,
  order: Measurement['order'],
): Promise<Measurement> {
  const scratch = await createScratchDatabase(server.adminUrl);
  try {
    const db = await openDatabase(scratch.url, { migrations });
    const client = new pg.Client({ connectionString: scratch.url, application_name: 'reembed-bench-copy' });
    await client.connect();
    try {
      await createSourceTable(db, rows);
      const manifest = manifestFor(dims);
      const source = await articlesSource(db, manifest);
      const pool = makeVectorPool(dims);
      const copyProfile = getProfile(manifest, COPY);
      const data = await readSourceRows(db, source, copyProfile);
      const set = copySet(data, pool);
      let backfill: BackfillResult | undefined;
      const passSeconds: number[] = [];
      for (const path of order) {
        if (path === 'backfill') {
          backfill = await measureBackfill(db, manifest, source, pool, data, workers);
          continue;
        }
        for (let p = 0; p < copyPasses; p++) {
          const { table } = await ensureStore(db, copyProfile);
          await checkpoint(db);
          const { seconds } = await timed(() => copyIntoPostgres(client, table, set, copyProfile.fingerprint));
          passSeconds.push(seconds);
          await verifyCopyAndDrop(db, source, copyProfile, set);
        }
      }
      return finish('postgres', dims, workers, order, backfill!, summarizeCopy(passSeconds));
    } finally {
      await client.end().catch(() => {});
      await db.close().catch(() => {});
    }
  } finally {
    await scratch.drop().catch(() => {});
  }
}

/**
 * PGlite: the backfill on a fresh in-memory database opened as the CLI opens it; each COPY pass
 * on its own fresh in-memory PGlite (opened directly, for its blob device) with the same source
 * table. One at a time, so two 600 MB stores never share the process.
 */
async function measurePglite(dims: number, order: Measurement['order']): Promise<Measurement> {
  const manifest = manifestFor(dims);
  const pool = makeVectorPool(dims);
  const copyProfile = getProfile(manifest, COPY);
  let data: SourceRows | undefined;
  let backfill: BackfillResult | undefined;
  const passSeconds: number[] = [];
  for (const path of order) {
    if (path === 'backfill') {
      const db = await openDatabase('memory://', { migrations });
      try {
        await createSourceTable(db, rows);
        const source = await articlesSource(db, manifest);
        data ??= await readSourceRows(db, source, copyProfile);
        backfill = await measureBackfill(db, manifest, source, pool, data, 1);
      } finally {
        await db.close();
      }
      continue;
    }
    for (let p = 0; p < copyPasses; p++) {
      const { pglite, db } = await openRawPglite();
      try {
        await runMigrations(db, migrations);
        await createSourceTable(db, rows);
        const source = await articlesSource(db, manifest);
        data ??= await readSourceRows(db, source, copyProfile);
        const set = copySet(data, pool);
        const { table } = await ensureStore(db, copyProfile);
        const { seconds } = await timed(() => copyIntoPglite(pglite, table, set, copyProfile.fingerprint));
        passSeconds.push(seconds);
        await verifyCopyAndDrop(db, source, copyProfile, set);
      } finally {
        await db.close();
      }
    }
  }
  return finish('pglite', dims, 1, order, backfill!, summarizeCopy(passSeconds));
}

function finish(
  backend: Backend,
  dims: number,
  workers: number,
  order: Measurement['order'],
  backfill: BackfillResult,
  copy: CopyResult,
): Measurement {
  const m: Measurement = {
    backend,
    dims,
    workers,
    rows,
    order,
    backfill,
    copy,
    ratio: backfill.rowsPerSecond / copy.rowsPerSecond,
  };
  console.log(
    `  ${backend} ${dims} dims, ${workers} worker(s): backfill ${backfill.seconds.toFixed(1)} s ` +
      `(${formatNumber(backfill.rowsPerSecond)} rows/s), COPY ${copy.seconds.toFixed(2)} s ` +
      `(${formatNumber(copy.rowsPerSecond)} rows/s, median of ${copy.passSeconds.length}), ` +
      `ratio ${m.ratio.toFixed(3)}; coverage 100% of ${formatNumber(rows)} (counted), samples verified`,
  );
  return m;
}

/** The worker's own path: everything a worker awaits in its loop (timers and the final count excluded). */
const WORKER_PATH: Phase[] = ['candidates', 'write', 'bookkeeping', 'failures', 'other'];

interface Isolated {
  dims: number;
  /** createEmbedder(…).embed with the pool provider, in pages of pageSize texts. */
  embedMicrosPerRow: number;
  /** checkVector + vectorLiteral, what a text-literal write does to each vector before sending it. */
  textEncodeMicrosPerRow: number;
}

/**
 * Client-side costs measured alone, to split the time the workers spend outside SQL: the
 * embedding pipeline with the zero-latency provider, and turning vectors into text literals.
 */
async function measureIsolated(dims: number): Promise<Isolated> {
  const manifest = manifestFor(dims);
  const profile = getProfile(manifest, BACKFILL);
  const pool = makeVectorPool(dims);
  const n = Math.min(rows, 20_000);
  const texts = Array.from({ length: n }, (_, i) => `Title ${i + 1}\n\nBody of article ${i + 1} about cats`);
  const embedder = createEmbedder(profile, { provider: poolProvider(pool) });
  const embedAll = async () => {
    const out: Float32Array[] = [];
    for (let i = 0; i < n; i += pageSize)
      out.push(...(await embedder.embed(texts.slice(i, i + pageSize), 'document')).vectors);
    return out;
  };
  await embedAll(); // warm-up
  const { seconds: embedSeconds, value: vectors } = await timed(embedAll);
  const encode = () => {
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      checkVector(profile, String(i), vectors[i]!);
      bytes += vectorLiteral(vectors[i]!).length;
    }
    return bytes;
  };
  encode();
  const { seconds: encodeSeconds } = await timed(encode);
  return { dims, embedMicrosPerRow: (embedSeconds / n) * 1e6, textEncodeMicrosPerRow: (encodeSeconds / n) * 1e6 };
}

async function main(): Promise<void> {
  console.log(
    `backfill throughput: ${formatNumber(rows)} rows of public.articles, dims ${dimsList.join(', ')}; ` +
      `zero-latency provider (pool of precomputed unit vectors) in the resilience layer; ` +
      `chunks of ${chunkSize}, pages of ${pageSize}; PostgreSQL workers ${postgresWorkers.join(', ')}, PGlite 1; ` +
      `COPY median of ${copyPasses} passes; backends: ${backends.join(', ')}`,
  );
  const measurements: Measurement[] = [];
  const servers: Array<{ backend: string; server: string; pgvector: string; setup: string }> = [];
  let k = 0;
  const nextOrder = (): Measurement['order'] => (k++ % 2 === 0 ? ['backfill', 'copy'] : ['copy', 'backfill']);
  for (const backend of backends) {
    if (backend === 'postgres') {
      const server = await startBenchServer();
      try {
        const probe = await openDatabase(server.adminUrl);
        const { rows: v } = await probe.query<{ server: string; pgvector: string }>(
          "SELECT current_setting('server_version') AS server, (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS pgvector",
        );
        await probe.close();
        servers.push({ backend, ...v[0]!, setup: `${server.origin}, fsync on, a scratch database per measurement` });
        for (const dims of dimsList) {
          for (const workers of postgresWorkers)
            measurements.push(await measurePostgres(server, dims, workers, nextOrder()));
        }
      } finally {
        server.stop();
      }
    } else {
      const probe = await openDatabase('memory://');
      const { rows: v } = await probe.query<{ server: string; pgvector: string }>(
        "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
      );
      await probe.close();
      servers.push({ backend, ...v[0]!, setup: 'in memory, a fresh instance per backfill and per COPY pass' });
      for (const dims of dimsList) measurements.push(await measurePglite(dims, nextOrder()));
    }
  }
  const isolated: Isolated[] = [];
  for (const dims of dimsList) isolated.push(await measureIsolated(dims));

  printTable(
    'Servers',
    ['backend', 'server', 'pgvector', 'setup'],
    servers.map((s) => [s.backend, s.server, s.pgvector, s.setup]),
  );
  printTable(
    `Backfill vs binary COPY, ${formatNumber(rows)} rows (ratio = backfill rows/s / COPY rows/s, same run; target >= 0.5 on PostgreSQL)`,
    ['backend', 'dims', 'workers', 'backfill s', 'backfill rows/s', 'COPY s', 'COPY rows/s', 'backfill/COPY'],
    measurements.map((m) => [
      m.backend,
      String(m.dims),
      String(m.workers),
      m.backfill.seconds.toFixed(1),
      formatNumber(m.backfill.rowsPerSecond),
      m.copy.seconds.toFixed(2),
      formatNumber(m.copy.rowsPerSecond),
      formatNumber(m.ratio, 3),
    ]),
  );
  const perRow = (m: Measurement, seconds: number) => formatNumber((seconds / m.rows) * 1e6, 0);
  printTable(
    'Where the workers spend their time, µs per row (SQL phases: busy time summed over workers; "outside SQL" = workers x drain time - worker SQL time)',
    [
      'backend',
      'dims',
      'workers',
      'prepare s',
      'drain s',
      'candidates',
      'write',
      'leases',
      'failures',
      'outside SQL',
      'timers',
      'COPY',
    ],
    measurements.map((m) => {
      const s = m.backfill.phases.seconds;
      const workerSql = WORKER_PATH.reduce((n, p) => n + s[p], 0);
      return [
        m.backend,
        String(m.dims),
        String(m.workers),
        m.backfill.prepareSeconds.toFixed(2),
        m.backfill.drainSeconds.toFixed(1),
        perRow(m, s.candidates),
        perRow(m, s.write),
        perRow(m, s.bookkeeping),
        perRow(m, s.failures),
        perRow(m, m.workers * m.backfill.drainSeconds - workerSql),
        perRow(m, s.background),
        perRow(m, m.copy.seconds),
      ];
    }),
  );
  printTable(
    'Client-side work measured alone, µs per row (part of "outside SQL" above)',
    ['dims', 'embed (pool provider + resilience layer)', 'checkVector + vectorLiteral'],
    isolated.map((i) => [
      String(i.dims),
      formatNumber(i.embedMicrosPerRow, 1),
      formatNumber(i.textEncodeMicrosPerRow, 1),
    ]),
  );
  const file = writeResult('backfill', {
    config: { rows, dims: dimsList, backends, postgresWorkers, pgliteWorkers: [1], pageSize, chunkSize, copyPasses },
    phaseLabels: PHASE_LABELS,
    phases: PHASES,
    servers,
    measurements,
    isolated,
  });
  console.log(`\nresult: ${file}`);
}

await main();
