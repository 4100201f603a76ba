/**
 * Benchmark `eval`: throughput of `reembed eval` (runEval) on SciFact (scifact-2k: 2,101
 * abstracts, 188 judged claims) for the two built-in hash profiles, on PGlite and PostgreSQL.
 *
 * - eval queries/s: the 188 queries of the search phase of runEval (embed the query, exact search
 *   of a 100-candidate pool, float64 rescoring to the top 50, TREC order), timed from the end of
 *   the profile's backfill to the end of its search progress;
 * - same-run reference: raw exact-search queries/s on the same store right after: searchExact
 *   of the same 100-candidate pool, with the query vectors embedded beforehand, off the clock.
 *   eval / raw says what the evaluation pipeline costs over its bare database search. A second
 *   pass adds the float64 rescoring (rescoreExact) to each search, to show where the time goes.
 *
 * The dataset is read from ../shared/datasets/scifact-2k beside the project root; without it
 * the benchmark says so and exits 0 (it is never copied into the project).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import type { Profile } from '../src/config/profile.js';
import { openDatabase } from '../src/db/open.js';
import { DEMO_MANIFEST } from '../src/demo/demo.js';
import { createEmbedder } from '../src/embedders/create.js';
import { readBeirDataset, type BeirDataset } from '../src/eval/beir.js';
import { candidatePool, rescoreExact } from '../src/eval/rescore.js';
import { runEval } from '../src/eval/run.js';
import { migrations } from '../src/schema.js';
import { searchExact } from '../src/store/search.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { collectGarbage, median } from './lib/measure.js';
import { createScratchDatabase, startBenchServer, type BenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const BACKENDS = ['pglite', 'postgres'] as const;
type Backend = (typeof BACKENDS)[number];
const backends = listFromEnv('REEMBED_BENCH_BACKENDS', [...BACKENDS], BACKENDS);
const repeats = intFromEnv('REEMBED_BENCH_EVAL_REPEATS', 3);
const DATASET = resolve(process.cwd(), '..', 'shared', 'datasets', 'scifact-2k');
const K = 50;

const manifest = buildManifest(DEMO_MANIFEST, null);
const profiles = [getProfile(manifest, 'hash_small'), getProfile(manifest, 'hash_large')];

interface Measurement {
  evalQps: number;
  /** The report's own figure: queries / (embed + exact search time), rescoring excluded. */
  reportQps: number;
  rawQps: number;
  /** searchExact + rescoreExact, no embedding. */
  rescoredQps: number;
  evalSeconds: number;
}

/** A database target that outlives runEval (which closes it), so the raw pass can reopen the same store. */
async function target(
  backend: Backend,
  server: BenchServer | null,
): Promise<{ url: string; drop: () => Promise<void> }> {
  if (backend === 'postgres') return createScratchDatabase(server!.adminUrl);
  const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-eval-'));
  return { url: dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

async function rawExactQps(
  url: string,
  profile: Profile,
  dataset: BeirDataset,
): Promise<{ rawQps: number; rescoredQps: number }> {
  const { vectors } = await createEmbedder(profile).embed(
    dataset.queries.map((q) => q.text),
    'query',
  );
  const db = await openDatabase(url);
  try {
    collectGarbage();
    let started = performance.now();
    for (const vector of vectors) await searchExact(db, profile, vector, candidatePool(K));
    const rawQps = vectors.length / ((performance.now() - started) / 1000);
    collectGarbage();
    started = performance.now();
    for (const vector of vectors)
      await rescoreExact(db, profile, vector, await searchExact(db, profile, vector, candidatePool(K)), K);
    return { rawQps, rescoredQps: vectors.length / ((performance.now() - started) / 1000) };
  } finally {
    await db.close();
  }
}

async function measure(backend: Backend, server: BenchServer | null, dataset: BeirDataset) {
  const where = await target(backend, server);
  try {
    const marks = new Map<string, number>();
    collectGarbage();
    const started = performance.now();
    // Opened and closed on the clock, as runEval did when it opened the database itself.
    const evalDb = await openDatabase(where.url, { migrations });
    const { report } = await runEval(dataset, {
      profiles,
      db: evalDb,
      k: K,
      reporter: {
        step: (message) => {
          const m = /^backfill (\w+):/.exec(message);
          if (m) marks.set(`start ${m[1]}`, performance.now());
        },
        progress: () => {},
        progressDone: (label) => marks.set(`end ${label}`, performance.now()),
      },
    }).finally(() => evalDb.close());
    const evalSeconds = (performance.now() - started) / 1000;
    const result = new Map<string, Measurement>();
    for (const profile of profiles) {
      const searchMs = marks.get(`end search ${profile.name}`)! - marks.get(`start ${profile.name}`)!;
      result.set(profile.name, {
        evalQps: dataset.queries.length / (searchMs / 1000),
        reportQps: report.profiles.find((p) => p.profile === profile.name)!.queriesPerSecond,
        ...(await rawExactQps(where.url, profile, dataset)),
        evalSeconds,
      });
    }
    return result;
  } finally {
    await where.drop();
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(DATASET, 'corpus.jsonl'))) {
    console.log(
      `scifact-2k is not at ${DATASET} (expected beside the project root): the eval benchmark has nothing to run.`,
    );
    return;
  }
  const dataset = await readBeirDataset(DATASET);
  const server = backends.includes('postgres') ? await startBenchServer() : null;
  const runs: Record<string, Record<string, Measurement[]>> = {};
  try {
    for (let r = 0; r < repeats; r++) {
      for (const backend of backends) {
        const result = await measure(backend, server, dataset);
        for (const [name, m] of result) {
          ((runs[backend] ??= {})[name] ??= []).push(m);
          console.log(
            `run ${r + 1}/${repeats} ${backend} ${name}: eval ${m.evalQps.toFixed(0)} queries/s, raw exact ${m.rawQps.toFixed(0)} queries/s`,
          );
        }
      }
    }
  } finally {
    server?.stop();
  }
  const rows: string[][] = [];
  const summary: Record<string, unknown>[] = [];
  for (const backend of backends) {
    for (const profile of profiles) {
      const ms = runs[backend]![profile.name]!;
      const evalQps = median(ms.map((m) => m.evalQps));
      const rawQps = median(ms.map((m) => m.rawQps));
      const ratio = median(ms.map((m) => m.evalQps / m.rawQps));
      rows.push([
        backend,
        `${profile.name} (${profile.dims})`,
        formatNumber(evalQps),
        formatNumber(median(ms.map((m) => m.reportQps))),
        formatNumber(rawQps),
        formatNumber(median(ms.map((m) => m.rescoredQps))),
        ratio.toFixed(2),
        median(ms.map((m) => m.evalSeconds)).toFixed(1),
      ]);
      summary.push({ backend, profile: profile.name, dims: profile.dims, evalQps, rawQps, ratio, runs: ms });
    }
  }
  printTable(
    `reembed eval on scifact-2k (${dataset.queries.length} queries, 2,101 documents, top ${K} from a pool of ${candidatePool(K)}), median of ${repeats} runs`,
    [
      'backend',
      'profile (dims)',
      'eval q/s',
      'embed+search q/s',
      'raw exact q/s',
      'exact+rescore q/s',
      'eval / raw',
      'whole eval s',
    ],
    rows,
  );
  console.log(`\nresult: ${writeResult('eval', { dataset: DATASET, k: K, repeats, results: summary })}`);
}

await main();
