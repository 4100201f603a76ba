/**
 * Benchmark `tune`: `reembed tune` (tuneIndex, default settings: ef_search 10, 20, 40, 64,
 * 100, 200, 400; 200 stored vectors as queries; recall@10 against exact search; at most 0.5
 * points of recall lost; no p95 target) on a 100,000 × 384 store with reembed's HNSW index
 * (pgvector defaults m 16, ef_construction 64, built CONCURRENTLY), on PostgreSQL. Two stores:
 *
 * - `text`: 100,000 synthetic documents (generateDataset, the demo's generator) embedded by a
 *   384-dim hash profile: vectors with the clustered structure of text;
 * - `random`: 100,000 seeded random unit vectors (Gaussian directions), the hardest case for a
 *   graph index (no structure to exploit).
 *
 * Printed per store: the table tune produced and its choice, with the index build time, and a
 * same-run reference: the exact search of the same 200 queries, timed warm after the sweep, so
 * p95(exact) / p95(chosen) says what the index buys at the chosen recall.
 */
import { createHash } from 'node:crypto';
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
import { buildIndex } from '../src/store/index.js';
import { searchExact } from '../src/store/search.js';
import { ensureStore } from '../src/store/store.js';
import { copySet } from './lib/copy-binary.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { makeVectorSet, type VectorSet } from './lib/vectors.js';

const ROWS = intFromEnv('REEMBED_BENCH_TUNE_ROWS', 100_000);
const DIMS = 384;
const STORES = ['text', 'random'] as const;
type StoreKind = (typeof STORES)[number];
const stores = listFromEnv('REEMBED_BENCH_TUNE_STORES', [...STORES], STORES);

const manifest = buildManifest(
  { profiles: { tune_text: { provider: 'hash', dims: DIMS }, tune_random: { provider: 'hash', dims: DIMS } } },
  null,
);

async function textVectors(profile: Profile): Promise<VectorSet> {
  const { corpus } = generateDataset({ documents: ROWS, queries: 1 });
  const embedder = createEmbedder(profile);
  const set: VectorSet = { dims: DIMS, ids: [], vectors: [], hashes: [] };
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

async function exactReference(
  db: Database,
  profile: Profile,
  queries: number,
): Promise<{ p50Ms: number; p95Ms: number }> {
  const sample = await sampleQueries(db, profile, queries, DEFAULT_ANN_SEED);
  const ms: number[] = [];
  for (const q of sample.queries) {
    const started = performance.now();
    await searchExact(db, profile, q.vector, 10);
    ms.push(performance.now() - started);
  }
  return { p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95) };
}

function printReport(
  kind: StoreKind,
  report: TuneReport,
  indexSeconds: number,
  exact: { p50Ms: number; p95Ms: number },
) {
  const rows = report.rows.map((r) => [
    String(r.value),
    r.recall.toFixed(4),
    r.minRecall.toFixed(2),
    r.p50Ms.toFixed(3),
    r.p95Ms.toFixed(3),
    r.plannerUsesIndex ? 'index' : 'exact scan',
    r.value === report.choice ? 'CHOSEN' : r.qualifies ? 'ok' : 'recall too low',
  ]);
  rows.push(['exact (warm)', '1.0000', '1.00', exact.p50Ms.toFixed(3), exact.p95Ms.toFixed(3), '', '']);
  printTable(
    `tune on ${formatNumber(report.storeRows)} × ${DIMS} (${kind}), HNSW built in ${indexSeconds.toFixed(0)} s; ` +
      `${report.queries} stored vectors as queries, recall@${report.k} vs exact`,
    ['ef_search', `recall@${report.k}`, 'min', 'p50 ms', 'p95 ms', 'serving plan', 'verdict'],
    rows,
  );
  const chosen = report.rows.find((r) => r.value === report.choice);
  console.log(`\nchoice: ${report.choice === null ? `none (${report.reason})` : report.reason}`);
  if (chosen)
    console.log(`p95 exact / p95 at the choice: ${(exact.p95Ms / chosen.p95Ms).toFixed(1)}× (same run, warm)`);
  console.log(`tune took ${report.seconds.toFixed(1)} s (exact searches, warm-up, ${report.rows.length} passes)`);
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  const scratch = await createScratchDatabase(server.adminUrl);
  const db = await openDatabase(scratch.url, { migrations });
  const results: Record<string, unknown> = { rows: ROWS, dims: DIMS, server: server.origin };
  try {
    const { rows } = await db.query<{ server: string; pgvector: string }>(
      "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
    );
    results.versions = rows[0];
    for (const kind of stores) {
      const profile = getProfile(manifest, `tune_${kind}`);
      console.log(`${kind}: preparing ${formatNumber(ROWS)} vectors`);
      const set = kind === 'text' ? await textVectors(profile) : makeVectorSet(ROWS, DIMS, 42);
      const { table } = await ensureStore(db, profile);
      await copySet(db, table, set, profile.fingerprint, null);
      await db.exec(`VACUUM ANALYZE ${table}`);
      console.log(`${kind}: building the HNSW index`);
      const index = await buildIndex(db, profile);
      console.log(`${kind}: index built in ${index.seconds.toFixed(0)} s; tuning`);
      const report = await tuneIndex(db, profile, {
        onProgress: (e) => {
          if (e.phase === 'measured')
            console.log(
              `  ef_search ${e.row.value}: recall ${e.row.recall.toFixed(4)}, p95 ${e.row.p95Ms.toFixed(3)} ms (${e.done}/${e.total})`,
            );
        },
      });
      const exact = await exactReference(db, profile, report.queries);
      printReport(kind, report, index.seconds, exact);
      results[kind] = { indexSeconds: index.seconds, indexBytes: index.status?.sizeBytes, report, exactWarm: exact };
    }
  } finally {
    await db.close();
    await scratch.drop();
    server.stop();
  }
  console.log(`\nresult: ${writeResult('tune', results)}`);
}

await main();
