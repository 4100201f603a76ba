/**
 * The reembed side of `vs-langchain`, in a child process of its own (so its CPU and peak RSS are
 * its own), through the library facade with its defaults, as an application would use it:
 * - initial sync: `load` the first file into the managed source, `backfill.run` profile a with
 *   its HNSW index at the end (`index: true`, the CLI's default; the library's is false, but a
 *   worker builds it anyway when a backfill is complete);
 * - re-sync: `load` the re-sync file (1% changed), `delete` the 0.5% absent from it, and one
 *   worker drains what capture queued (`backfill.work({ drain: true })`);
 * - model change: `backfill.run` profile b (another hash seed, or another model), index included:
 *   every document is embedded again into b's own store while a's keeps serving;
 * - search: `search(query, { k: 10 })` served by profile a.
 * After each phase the counts are checked (coverage counted in SQL, the reports' counts).
 */
import { readFileSync } from 'node:fs';
import { open } from '../../src/reembed.js';
import {
  DIMS,
  HASH_SEEDS,
  MODELS,
  expectEqual,
  measurePhase,
  measureSearch,
  readJob,
  report,
  step,
  type Job,
  type PhaseResult,
} from '../lib/vs-langchain.js';

function profiles(job: Job): Record<string, Record<string, unknown>> {
  if (job.setting === 'hash') {
    const hash = (seed: number) => ({ word_ngrams: [1, 2], char_ngrams: [3, 5], seed });
    return {
      a: { provider: 'hash', dims: DIMS, hash: hash(HASH_SEEDS.a) },
      b: { provider: 'hash', dims: DIMS, hash: hash(HASH_SEEDS.b) },
    };
  }
  const remote = (model: string) => ({
    provider: 'openai-compatible',
    base_url: job.providerUrl,
    model,
    dims: DIMS,
  });
  return { a: remote(MODELS.a), b: remote(MODELS.b) };
}

/** The seconds of the HNSW index build a backfill ran at the end; throws when it built none. */
function requireIndex(phase: string, index: { search: string; seconds: number } | null): number {
  if (index?.search !== 'hnsw') throw new Error(`${phase}: no HNSW index was built: ${JSON.stringify(index)}`);
  return index.seconds;
}

async function main(): Promise<void> {
  const job = readJob();
  const live = job.documents - job.deleted;
  const deletedIds = readFileSync(job.deletedIdsFile, 'utf8').split('\n').filter(Boolean);
  expectEqual('deleted ids in the file', deletedIds.length, job.deleted);
  const rb = await open({
    config: { source: { managed: true }, profiles: profiles(job), default_profile: 'a' },
    db: job.databaseUrl,
    router: { lazy: true },
  });
  const phases: PhaseResult[] = [];
  try {
    const firstParts: Record<string, number> = {};
    const first = await measurePhase(async () => {
      const loaded = await step(firstParts, 'load', () => rb.load(job.firstFile));
      const run = await step(firstParts, 'backfill', () => rb.backfill.run('a', { index: true }));
      return { loaded, run };
    });
    firstParts['of which HNSW index'] = requireIndex('initial sync', first.value.run.index);
    expectEqual('initial sync: documents inserted', first.value.loaded.inserted, job.documents);
    expectEqual('initial sync: rows embedded', first.value.run.embedded, job.documents);
    const coverageA = await rb.backfill.coverage('a');
    expectEqual('initial sync: source rows', coverageA.sourceRows, job.documents);
    expectEqual('initial sync: current vectors', coverageA.current, job.documents);
    phases.push({
      name: 'initial sync',
      inputDocuments: job.documents,
      seconds: first.seconds,
      cpuMicros: first.cpuMicros,
      maxRssKiB: first.maxRssKiB,
      embedded: first.value.run.embedded,
      check: `source ${coverageA.sourceRows}, current ${coverageA.current}`,
      parts: firstParts,
    });

    const resyncParts: Record<string, number> = {};
    const resync = await measurePhase(async () => {
      const loaded = await step(resyncParts, 'load', () => rb.load(job.resyncFile));
      const deleted = await step(resyncParts, 'delete', () => rb.delete(deletedIds));
      const workers = await step(resyncParts, 'work', () => rb.backfill.work({ profiles: ['a'], drain: true }));
      return { loaded, deleted, workers };
    });
    const { loaded, deleted, workers } = resync.value;
    expectEqual('re-sync: documents updated', loaded.updated, job.changed);
    expectEqual('re-sync: documents unchanged', loaded.unchanged, live - job.changed);
    expectEqual('re-sync: documents inserted', loaded.inserted, 0);
    expectEqual('re-sync: documents deleted', deleted, job.deleted);
    const reembedded = workers.reduce((n, w) => n + w.rowsEmbedded, 0);
    expectEqual('re-sync: rows embedded', reembedded, job.changed);
    const afterResync = await rb.backfill.coverage('a');
    expectEqual('re-sync: source rows', afterResync.sourceRows, live);
    expectEqual('re-sync: current vectors', afterResync.current, live);
    expectEqual('re-sync: stale vectors', afterResync.stale, 0);
    phases.push({
      name: 're-sync',
      inputDocuments: live,
      seconds: resync.seconds,
      cpuMicros: resync.cpuMicros,
      maxRssKiB: resync.maxRssKiB,
      embedded: reembedded,
      check: `source ${afterResync.sourceRows}, current ${afterResync.current}, stale ${afterResync.stale}`,
      parts: resyncParts,
    });

    const change = await measurePhase(() => rb.backfill.run('b', { index: true }));
    const changeParts = { 'of which HNSW index': requireIndex('model change', change.value.index) };
    expectEqual('model change: rows embedded', change.value.embedded, live);
    const coverageB = await rb.backfill.coverage('b');
    expectEqual('model change: current vectors of b', coverageB.current, live);
    phases.push({
      name: 'model change',
      inputDocuments: live,
      seconds: change.seconds,
      cpuMicros: change.cpuMicros,
      maxRssKiB: change.maxRssKiB,
      embedded: change.value.embedded,
      check: `b current ${coverageB.current} of ${coverageB.sourceRows}; a still serves`,
      parts: changeParts,
    });

    const search = await measureSearch(job, async (query) => {
      const response = await rb.search(query, { k: 10 });
      if (response.profile !== 'a' || response.fallback) {
        throw new Error(`search served by ${response.profile} (fallback ${response.fallback}), expected a`);
      }
      return response.hits.length;
    });
    report({
      side: job.side,
      setting: job.setting,
      phases,
      search,
      maxRssKiB: process.resourceUsage().maxRSS,
    });
  } finally {
    await rb.close();
  }
}

await main();
