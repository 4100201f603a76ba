/**
 * Benchmark `index-kinds`: IVFFlat beside HNSW on the same 100,000 vectors (PostgreSQL), at
 * 384 and 768 dims. The vectors are 100,000 synthetic documents (generateDataset, the demo's
 * generator) embedded by a hash profile: the clustered structure of text. Per kind, on one
 * store: the index build (reembed's buildIndex, CONCURRENTLY, maintenance_work_mem 512MB), then
 * `reembed tune` with its defaults (200 stored vectors as queries, recall@10 against exact
 * search, at most 0.5 points lost, no p95 target): HNSW sweeps ef_search 10-400, IVFFlat probes
 * 1-32 (lists = rows / 1000 = 100, the default). Then the same-run exact reference (the same
 * queries, warm) and, for IVFFlat, the list sizes status reports (and how long reading them took).
 * The index is dropped between kinds; the load average is printed before and after.
 */
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import type { Profile } from '../src/config/profile.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { createEmbedder } from '../src/embedders/create.js';
import { sampleQueries, DEFAULT_ANN_SEED } from '../src/eval/ann-check.js';
import { percentile } from '../src/eval/latency.js';
import { generateDataset } from '../src/eval/synthetic.js';
import { tuneIndex, type TuneReport } from '../src/eval/tune.js';
import { migrations } from '../src/schema.js';
import { buildIndex, describeIndex, dropIndex } from '../src/store/index.js';
import { searchExact } from '../src/store/search.js';
import { ensureStore } from '../src/store/store.js';
import { copySet } from './lib/copy-binary.js';
import { intFromEnv } from './lib/env.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import type { VectorSet } from './lib/vectors.js';

const ROWS = intFromEnv('REEMBED_BENCH_INDEX_ROWS', 100_000);
const DIMS = (process.env.REEMBED_BENCH_INDEX_DIMS ?? '384,768').split(',').map(Number);

function profileFor(dims: number, kind: 'hnsw' | 'ivfflat'): Profile {
  return getProfile(
    buildManifest({ profiles: { [`kinds_${dims}`]: { provider: 'hash', dims, index: { type: kind } } } }, null),
    `kinds_${dims}`,
  );
}

async function textVectors(profile: Profile): Promise<VectorSet> {
  const { corpus } = generateDataset({ documents: ROWS, queries: 1 });
  const embedder = createEmbedder(profile);
  const set: VectorSet = { dims: profile.dims, ids: [], vectors: [], hashes: [] };
  for (let i = 0; i < corpus.length; i += 1000) {
    const batch = corpus.slice(i, i + 1000);
    const { vectors } = await embedder.embed(
      batch.map((d) => d.text),
      'document',
    );
    for (const [j, doc] of batch.entries()) {
      set.ids.push(doc.id);
      set.vectors.push(vectors[j]!);
      set.hashes.push(createHash('sha256').update(doc.text).digest('hex'));
    }
  }
  return set;
}

async function exactReference(db: Database, profile: Profile, queries: number): Promise<{ p95Ms: number }> {
  const sample = await sampleQueries(db, profile, queries, DEFAULT_ANN_SEED);
  const ms: number[] = [];
  for (const q of sample.queries) {
    const started = performance.now();
    await searchExact(db, profile, q.vector, 10);
    ms.push(performance.now() - started);
  }
  return { p95Ms: percentile(ms, 95) };
}

function printReport(dims: number, report: TuneReport, build: { seconds: number; bytes: number }) {
  const rows = report.rows.map((r) => [
    String(r.value),
    r.recall.toFixed(4),
    r.p50Ms.toFixed(3),
    r.p95Ms.toFixed(3),
    r.plannerUsesIndex ? 'index' : 'exact scan',
    r.value === report.choice ? 'CHOSEN' : r.qualifies ? 'ok' : 'recall too low',
  ]);
  printTable(
    `${report.kind} on ${formatNumber(report.storeRows)} × ${dims}: built in ${build.seconds.toFixed(1)} s, ` +
      `${(build.bytes / 2 ** 20).toFixed(0)} MiB; ${report.queries} stored vectors as queries, recall@${report.k} vs exact`,
    [report.parameter, `recall@${report.k}`, 'p50 ms', 'p95 ms', 'serving plan', 'verdict'],
    rows,
  );
  console.log(`choice: ${report.choice === null ? `none (${report.reason})` : report.reason}`);
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  const results: Record<string, unknown> = { rows: ROWS, dims: DIMS, loadBefore: loadavg() };
  console.log(
    `load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  try {
    for (const dims of DIMS) {
      const scratch = await createScratchDatabase(server.adminUrl);
      const db = await openDatabase(scratch.url, { migrations });
      try {
        const { rows: versions } = await db.query<{ server: string; pgvector: string }>(
          "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
        );
        results.versions = versions[0];
        const hnsw = profileFor(dims, 'hnsw');
        console.log(`${dims}: preparing ${formatNumber(ROWS)} vectors`);
        const set = await textVectors(hnsw);
        const { table } = await ensureStore(db, hnsw);
        await copySet(db, table, set, hnsw.fingerprint, null);
        await db.exec(`VACUUM ANALYZE ${table}`);
        const perKind: Record<string, unknown> = {};
        for (const profile of [hnsw, profileFor(dims, 'ivfflat')]) {
          const kind = profile.index!.type;
          console.log(`${dims}: building the ${kind} index`);
          await dropIndex(db, profile);
          const built = await buildIndex(db, profile);
          const bytes = built.status?.sizeBytes ?? 0;
          console.log(`${dims}: ${kind} built in ${built.seconds.toFixed(1)} s; tuning`);
          const report = await tuneIndex(db, profile, {
            onProgress: (e) => {
              if (e.phase === 'measured')
                console.log(
                  `  ${e.parameter} ${e.row.value}: recall ${e.row.recall.toFixed(4)}, p95 ${e.row.p95Ms.toFixed(3)} ms`,
                );
            },
          });
          const exact = await exactReference(db, profile, report.queries);
          printReport(dims, report, { seconds: built.seconds, bytes });
          console.log(`exact search of the same queries (warm): p95 ${exact.p95Ms.toFixed(3)} ms`);
          let lists = null;
          let listsSeconds = null;
          if (kind === 'ivfflat') {
            const started = performance.now();
            lists = (await describeIndex(db, profile)).lists;
            listsSeconds = (performance.now() - started) / 1000;
            console.log(`list sizes (${listsSeconds.toFixed(2)} s to read): ${JSON.stringify(lists)}`);
          }
          perKind[kind] = {
            buildSeconds: built.seconds,
            indexBytes: bytes,
            options: built.status?.options,
            report,
            exactWarmP95Ms: exact.p95Ms,
            lists,
            listsSeconds,
          };
        }
        results[`d${dims}`] = perKind;
      } finally {
        await db.close();
        await scratch.drop();
      }
    }
  } finally {
    server.stop();
  }
  results.loadAfter = loadavg();
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(`\nresult: ${writeResult('index-kinds', results)}`);
}

await main();
