/**
 * The query-embedding cache (issue 12 item 6): what a hit costs beside a miss.
 *  1. lookups alone: QueryCache.vector on a hit vs a miss that embeds with the hash provider
 *     (hash_large, 1,024 dims: the cheapest provider there is; a network provider's miss costs its
 *     round trip on top). Goal: a hit skips the provider and costs < 0.05 ms.
 *  2. end to end on the embedded database: Router.search p50/p95 with the cache off (size 0) vs
 *     on (every query seen before), interleaved, over a store of hash_large vectors.
 */
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import { openDatabase } from '../src/db/open.js';
import { createEmbedder } from '../src/embedders/create.js';
import { QueryCache } from '../src/router/query-cache.js';
import { Router } from '../src/router/router.js';
import { migrations } from '../src/schema.js';
import { articlesManifest, articlesSource, createSourceTable, getProfile } from './lib/articles.js';
import { intFromEnv } from './lib/env.js';
import { collectGarbage } from './lib/measure.js';
import { formatNumber, machineInfo, printTable, writeResult } from './lib/report.js';

const QUERIES = intFromEnv('REEMBED_BENCH_CACHE_QUERIES', 2_000);
const HIT_ROUNDS = intFromEnv('REEMBED_BENCH_CACHE_HIT_ROUNDS', 50);
const ROWS = intFromEnv('REEMBED_BENCH_CACHE_ROWS', 2_000);
const SEARCHES = intFromEnv('REEMBED_BENCH_CACHE_SEARCHES', 400);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const load = (await import('node:os')).loadavg()[0]!;
  const db = await openDatabase('memory://', { migrations });
  const result: Record<string, unknown> = { machine: machineInfo(), loadAverage1m: load };
  try {
    const manifest = articlesManifest({
      // Room for every query of the run: an LRU smaller than a cycled working set misses every time.
      large: {
        provider: 'hash',
        dims: 1024,
        hash: { word_ngrams: [1, 2], char_ngrams: [3, 5], seed: 11 },
        cache: { size: 10_000 },
      },
      large_nocache: {
        provider: 'hash',
        dims: 1024,
        hash: { word_ngrams: [1, 2], char_ngrams: [3, 5], seed: 11 },
        cache: { size: 0 },
      },
    });
    const profile = getProfile(manifest, 'large');
    const embedder = createEmbedder(profile);
    const queries = Array.from(
      { length: QUERIES },
      (_, i) => `does ${['vitamin d', 'aspirin', 'exercise', 'sleep'][i % 4]} change the risk of disease ${i}?`,
    );

    // 1. Lookups alone.
    const cache = new QueryCache(db);
    const embed = (q: string) => async () => (await embedder.embed([q], 'query')).vectors[0]!;
    await cache.vector(profile, 'warm up', embed('warm up'));
    collectGarbage();
    let t0 = performance.now();
    for (const q of queries) await cache.vector(profile, q, embed(q));
    const missMs = (performance.now() - t0) / queries.length;
    let providerCalls = 0;
    const counted = (q: string) => async () => {
      providerCalls++;
      return (await embedder.embed([q], 'query')).vectors[0]!;
    };
    collectGarbage();
    t0 = performance.now();
    for (let r = 0; r < HIT_ROUNDS; r++) for (const q of queries) await cache.vector(profile, q, counted(q));
    const hits = HIT_ROUNDS * queries.length;
    const hitMs = (performance.now() - t0) / hits;
    if (providerCalls !== 0) throw new Error(`a hit called the provider ${providerCalls} times`);
    printTable(
      `Query-vector lookups, hash_large (1,024 dims), ${formatNumber(queries.length)} distinct queries (ms per lookup)`,
      ['path', 'ms', 'provider calls'],
      [
        ['miss: embed + cache', missMs.toFixed(4), formatNumber(queries.length)],
        [`hit (${formatNumber(hits)} lookups)`, hitMs.toFixed(5), String(providerCalls)],
        ['hit / miss', (hitMs / missMs).toFixed(3), ''],
      ],
    );
    result.lookups = { queries: queries.length, missMs, hitMs, hits, ratio: hitMs / missMs, goal: 'hit < 0.05 ms' };

    // 2. End to end: the same searches with the cache off and on, interleaved.
    await createSourceTable(db, ROWS);
    const source = await articlesSource(db, manifest);
    for (const name of ['large', 'large_nocache']) {
      const p = getProfile(manifest, name);
      await prepareBackfill(db, source, p, manifest.profiles, { chunkSize: 5000 });
      await runBackfill(db, { source, profiles: [p], pageSize: 500 });
    }
    const open = (defaultProfile: string) =>
      new Router(db, manifest, source, { defaultProfile, hotDocuments: false, metrics: false }).start();
    const on = await open('large');
    const off = await open('large_nocache');
    const served = queries.slice(0, 100);
    for (const q of served) {
      await on.search(q);
      await off.search(q);
    }
    collectGarbage();
    const t = { on: [] as number[], off: [] as number[], onEmbed: [] as number[], offEmbed: [] as number[] };
    for (let i = 0; i < SEARCHES; i++) {
      const q = served[i % served.length]!;
      const a = await off.search(q);
      t.off.push(a.latencyMs.total);
      t.offEmbed.push(a.latencyMs.embed);
      const b = await on.search(q);
      t.on.push(b.latencyMs.total);
      t.onEmbed.push(b.latencyMs.embed);
    }
    await on.close();
    await off.close();
    for (const v of Object.values(t)) v.sort((x, y) => x - y);
    printTable(
      `Router.search on PGlite, ${formatNumber(ROWS)} rows × 1,024 dims (exact), ${SEARCHES} searches each, interleaved (ms)`,
      ['cache', 'p50 total', 'p95 total', 'p50 embed'],
      [
        [
          'off (size 0)',
          percentile(t.off, 50).toFixed(3),
          percentile(t.off, 95).toFixed(3),
          percentile(t.offEmbed, 50).toFixed(4),
        ],
        [
          'on, every query seen',
          percentile(t.on, 50).toFixed(3),
          percentile(t.on, 95).toFixed(3),
          percentile(t.onEmbed, 50).toFixed(4),
        ],
        [
          'on / off',
          (percentile(t.on, 50) / percentile(t.off, 50)).toFixed(3),
          (percentile(t.on, 95) / percentile(t.off, 95)).toFixed(3),
          '',
        ],
      ],
    );
    result.router = {
      rows: ROWS,
      searches: SEARCHES,
      off: { p50: percentile(t.off, 50), p95: percentile(t.off, 95), embedP50: percentile(t.offEmbed, 50) },
      on: { p50: percentile(t.on, 50), p95: percentile(t.on, 95), embedP50: percentile(t.onEmbed, 50) },
    };
    console.log(`\nload average (1 min) at the start: ${load.toFixed(2)}`);
    console.log(`results: ${writeResult('query-cache', result)}`);
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
