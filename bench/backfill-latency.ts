/**
 * Benchmark `backfill-latency`: backfill rows/s against an OpenAI-compatible provider that
 * answers after a fixed latency (the test suite's fake provider, test/helpers/fake-provider.ts),
 * with a worker that processes a chunk page after page (pipeline depth 1, as before issue 18),
 * one that keeps two pages in flight, and the default (enough pages for the profile's
 * `concurrency` requests, plus one). One worker, the profile's
 * default batching (96 inputs per request, 4 requests in flight), pages of 256 rows, on
 * PostgreSQL. The depths alternate run by run on fresh databases; the ratio depth 2 / depth 1
 * of the same latency is the figure to compare across machines.
 */
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import { countCoverage } from '../src/backfill/coverage.js';
import { openDatabase } from '../src/db/open.js';
import { migrations } from '../src/schema.js';
import { startFakeProvider } from '../test/helpers/fake-provider.js';
import { articlesManifest, articlesSource, createSourceTable, getProfile } from './lib/articles.js';
import { intFromEnv } from './lib/env.js';
import { intListFromEnv } from './lib/env-list.js';
import { median } from './lib/measure.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const rows = intFromEnv('REEMBED_BENCH_LAT_ROWS', 5000);
const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 3);
const latencies = intListFromEnv('REEMBED_BENCH_LAT_MS', [20, 200]);
/** undefined: the worker's default (enough pages for `concurrency` requests, plus one: 3 here). */
const DEPTHS = [1, 2, undefined] as const;
const DIMS = 64;

async function once(adminUrl: string, latencyMs: number, depth: number | undefined): Promise<number> {
  const scratch = await createScratchDatabase(adminUrl);
  const provider = await startFakeProvider({ dims: DIMS, latencyMs });
  const db = await openDatabase(scratch.url, { migrations });
  try {
    await createSourceTable(db, rows);
    const manifest = articlesManifest({
      remote: { provider: 'openai-compatible', base_url: provider.openaiUrl, model: 'bench', dims: DIMS },
    });
    const source = await articlesSource(db, manifest);
    const profile = getProfile(manifest, 'remote');
    await prepareBackfill(db, source, profile, manifest.profiles);
    const run = await runBackfill(db, { source, profiles: [profile], pipelineDepth: depth });
    const coverage = await countCoverage(db, source, profile);
    if (coverage.current !== rows || run.workers[0]!.rowsEmbedded !== rows) {
      throw new Error(`expected ${rows} rows embedded and current: ${JSON.stringify(coverage)}`);
    }
    return rows / run.workers[0]!.seconds;
  } finally {
    await db.close();
    await provider.close();
    await scratch.drop();
  }
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  try {
    const results: { latencyMs: number; depth: number | undefined; rowsPerSecond: number[] }[] = [];
    for (const latencyMs of latencies) {
      const runs = new Map<number | undefined, number[]>(DEPTHS.map((d) => [d, []]));
      for (let r = 0; r < repeats; r++) {
        for (const depth of DEPTHS) runs.get(depth)!.push(await once(server.adminUrl, latencyMs, depth));
      }
      for (const depth of DEPTHS) results.push({ latencyMs, depth, rowsPerSecond: runs.get(depth)! });
    }
    console.log(
      `backfill-latency: ${formatNumber(rows)} rows (public.articles), openai-compatible fake provider, ` +
        `1 worker, batch 96, concurrency 4, pages of 256, ${server.origin}; median of ${repeats} runs, depths alternating`,
    );
    printTable(
      'Backfill rows/s against a provider with a fixed latency (median; ratio to depth 1 at the same latency)',
      ['latency', 'pipeline depth', 'rows/s', 'min-max', 'vs depth 1'],
      results.map((r) => {
        const base = median(results.find((x) => x.latencyMs === r.latencyMs && x.depth === 1)!.rowsPerSecond);
        return [
          `${r.latencyMs} ms`,
          r.depth === undefined ? 'default (3)' : String(r.depth),
          formatNumber(median(r.rowsPerSecond)),
          `${formatNumber(Math.min(...r.rowsPerSecond))}-${formatNumber(Math.max(...r.rowsPerSecond))}`,
          `${formatNumber(median(r.rowsPerSecond) / base, 2)}x`,
        ];
      }),
    );
    const file = writeResult('backfill-latency', { config: { rows, repeats, latencies }, results });
    console.log(`\nresult: ${file}`);
  } finally {
    server.stop();
  }
}

await main();
