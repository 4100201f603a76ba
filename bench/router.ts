/**
 * Router benchmarks (issue 4), on PostgreSQL:
 *  1. overhead: a search through the router vs the same pgvector query issued directly with
 *     the same query vector, interleaved in one run; p50 and p99 of each and the difference
 *     (target: at most 0.3 ms added at p50);
 *  2. shadow: p99 of served searches with shadow reads on 10% of them vs shadow off
 *     (target: at most 5% added). One caller in a closed loop leaves the router no idle moment,
 *     so the queued shadow reads mostly wait and are dropped (counted); `shadow-cost` measures
 *     them under open-loop traffic that has idle time;
 *  3. rollback propagation to 3 router processes (target: p99 at most 1 s).
 * The query embedding is a precomputed vector served by an in-process provider, so the figures
 * are the router's and the database's, not an embedder's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import type { Profile } from '../src/config/profile.js';
import { openDatabase } from '../src/db/open.js';
import { vectorLiteral } from '../src/db/sql.js';
import { createEmbedder } from '../src/embedders/create.js';
import {
  planMigration,
  rampMigration,
  rollbackMigration,
  shadowMigration,
  startMigration,
} from '../src/migration/lifecycle.js';
import { Router } from '../src/router/router.js';
import { migrations } from '../src/schema.js';
import { buildIndex } from '../src/store/index.js';
import { storeLayout } from '../src/store/store.js';
import { articlesManifest, articlesSource, createSourceTable, getProfile } from './lib/articles.js';
import { intFromEnv } from './lib/env.js';
import { collectGarbage } from './lib/measure.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { backfillPlanner } from '../src/backfill/planner.js';

const ROWS = intFromEnv('REEMBED_BENCH_ROUTER_ROWS', 20_000);
const SEARCHES = intFromEnv('REEMBED_BENCH_ROUTER_SEARCHES', 2_000);
const TRIALS = intFromEnv('REEMBED_BENCH_ROUTER_TRIALS', 10);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const server = await startBenchServer();
  const scratch = await createScratchDatabase(server.adminUrl);
  const db = await openDatabase(scratch.url, { migrations });
  const result: Record<string, unknown> = { rows: ROWS, searches: SEARCHES };
  try {
    await createSourceTable(db, ROWS);
    const manifest = articlesManifest({
      ctrl: { provider: 'hash', dims: 384 },
      cand: { provider: 'hash', dims: 384, hash: { seed: 7 } },
    });
    const source = await articlesSource(db, manifest);
    const ctrl = getProfile(manifest, 'ctrl');
    const cand = getProfile(manifest, 'cand');
    for (const p of [ctrl, cand]) {
      await prepareBackfill(db, source, p, manifest.profiles, { chunkSize: 5000 });
      await runBackfill(db, { source, profiles: [p], workers: 2, pageSize: 1000 });
      await buildIndex(db, p);
    }
    const queries = Array.from(
      { length: 200 },
      (_, i) => `article ${i * 37} about ${['cats', 'dogs', 'fish', 'birds'][i % 4]}`,
    );
    const vectors = new Map<string, Map<string, Float32Array>>();
    for (const p of [ctrl, cand]) {
      const { vectors: v } = await createEmbedder(p).embed(queries, 'query');
      vectors.set(p.name, new Map(queries.map((q, i) => [q, v[i]!])));
    }
    // The router embeds through this provider: a map lookup, no hashing on the clock.
    const provider = (profile: Profile) => ({
      provider: 'hash' as const,
      embedBatch: async (texts: string[]) => ({
        vectors: texts.map((t) => vectors.get(profile.name)!.get(t.slice(profile.query_prefix.length))!),
      }),
    });
    const router = await new Router(db, manifest, source, {
      defaultProfile: 'ctrl',
      embedderOptions: { provider },
      hotDocuments: false,
    }).start();
    const { table, distanceOperator } = storeLayout(ctrl);
    const direct = async (q: string) =>
      db.query(
        `SELECT doc_id, embedding ${distanceOperator} $1::vector AS d FROM ${table} ORDER BY embedding ${distanceOperator} $1::vector LIMIT 10`,
        [vectorLiteral(vectors.get('ctrl')!.get(q)!)],
      );

    // Warm both paths (plans, pool connections, JIT), then interleave them so drift hits both.
    for (let i = 0; i < 200; i++) {
      await direct(queries[i % queries.length]!);
      await router.search(queries[i % queries.length]!);
    }
    collectGarbage();
    const t = { direct: [] as number[], router: [] as number[] };
    for (let i = 0; i < SEARCHES; i++) {
      const q = queries[i % queries.length]!;
      let t0 = performance.now();
      await direct(q);
      t.direct.push(performance.now() - t0);
      t0 = performance.now();
      await router.search(q);
      t.router.push(performance.now() - t0);
    }
    t.direct.sort((a, b) => a - b);
    t.router.sort((a, b) => a - b);
    const overhead = {
      directP50: percentile(t.direct, 50),
      directP99: percentile(t.direct, 99),
      routerP50: percentile(t.router, 50),
      routerP99: percentile(t.router, 99),
    };
    printTable(
      `Router overhead, ${SEARCHES} searches each, ${formatNumber(ROWS)} rows × 384 dims, HNSW, k = 10 (ms)`,
      ['path', 'p50', 'p99'],
      [
        ['pgvector query, direct', overhead.directP50.toFixed(3), overhead.directP99.toFixed(3)],
        ['through the router', overhead.routerP50.toFixed(3), overhead.routerP99.toFixed(3)],
        [
          'added by the router',
          (overhead.routerP50 - overhead.directP50).toFixed(3),
          (overhead.routerP99 - overhead.directP99).toFixed(3),
        ],
      ],
    );
    result.overhead = { ...overhead, addedP50: overhead.routerP50 - overhead.directP50, target: 'addedP50 <= 0.3 ms' };

    // Shadow: the same router with and without a 10% shadow sample, interleaved by blocks.
    const ctx = { db, manifest, source, actor: 'bench', backfill: backfillPlanner };
    let m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', 'cand')).migration);
    m = await shadowMigration(ctx, m, 0.1);
    await router.refresh();
    const off = await new Router(db, manifest, source, {
      defaultProfile: 'ctrl',
      embedderOptions: { provider },
      hotDocuments: false,
      shadow: { enabled: false },
    }).start();
    const shadowTimes = { on: [] as number[], off: [] as number[] };
    for (let block = 0; block < 20; block++) {
      for (const [name, r] of [
        ['on', router],
        ['off', off],
      ] as const) {
        for (let i = 0; i < SEARCHES / 20; i++) {
          const q = queries[(block * 13 + i) % queries.length]!;
          const t0 = performance.now();
          await r.search(q, { subject: `u${i}` });
          shadowTimes[name].push(performance.now() - t0);
        }
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    shadowTimes.on.sort((a, b) => a - b);
    shadowTimes.off.sort((a, b) => a - b);
    const shadow = {
      offP50: percentile(shadowTimes.off, 50),
      offP99: percentile(shadowTimes.off, 99),
      onP50: percentile(shadowTimes.on, 50),
      onP99: percentile(shadowTimes.on, 99),
      shadowRuns: router.stats.shadowRuns,
      shadowDropped: router.stats.shadowDropped,
      shadowDrops: router.stats.shadowDrops,
    };
    printTable(
      'Shadow reads on 10% of searches (ms)',
      ['router', 'p50', 'p99'],
      [
        ['shadow off', shadow.offP50.toFixed(3), shadow.offP99.toFixed(3)],
        [
          `shadow on (${shadow.shadowRuns} shadow searches run, ${shadow.shadowDropped} dropped: ` +
            `${shadow.shadowDrops.queue_full} queue full, ${shadow.shadowDrops.too_old} too old)`,
          shadow.onP50.toFixed(3),
          shadow.onP99.toFixed(3),
        ],
        ['p99 on / off', '', (shadow.onP99 / shadow.offP99).toFixed(3)],
      ],
    );
    result.shadow = { ...shadow, p99Ratio: shadow.onP99 / shadow.offP99, target: 'p99Ratio <= 1.05' };
    await off.close();
    await router.close();
    await rollbackMigration(ctx, m, 'bench setup');

    result.propagation = await propagation(scratch.url, ctx);
  } finally {
    await db.close();
    await scratch.drop();
    server.stop();
  }
  console.log(`\nresult: ${writeResult('router', result)}`);
}

/** Three router processes (the built library), rollback trials, time until each serves the control. */
async function propagation(url: string, ctx: Parameters<typeof planMigration>[0]): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-router-'));
  const config = join(dir, 'reembed.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      source: { table: 'public.articles', id: 'id', text: '{title}\n\n{body}' },
      profiles: { ctrl: { provider: 'hash', dims: 384 }, cand: { provider: 'hash', dims: 384, hash: { seed: 7 } } },
      environments: { development: { profile: 'ctrl' } },
    }),
  );
  const instance = join(process.cwd(), 'test', 'fixtures', 'router-instance.mjs');
  const children = Array.from({ length: 3 }, () => {
    const child = spawn(process.execPath, [instance, config, url], { stdio: ['ignore', 'pipe', 'inherit'] });
    const seen: Array<{ t: number; id: string | null; phase: string | null; version: number; serving: string }> = [];
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line);
      if (msg.ready) ready();
      else seen.push(msg);
    });
    return { child, seen, isReady };
  });
  const waitFor = async (check: () => boolean) => {
    const until = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > until) throw new Error('propagation: timed out');
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  try {
    await Promise.all(children.map((c) => c.isReady));
    const delays: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      let m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', 'cand')).migration);
      m = await rampMigration(ctx, await shadowMigration(ctx, m, 0), 100);
      const up = m;
      await waitFor(() => children.every((c) => c.seen.some((s) => s.id === up.id && s.version === up.version)));
      const t0 = Date.now();
      const back = await rollbackMigration(ctx, m, `bench trial ${trial}`);
      await waitFor(() =>
        children.every((c) =>
          c.seen.some((s) => s.id === back.id && s.phase === 'rolled_back' && s.serving === 'ctrl'),
        ),
      );
      for (const c of children) delays.push(c.seen.find((s) => s.id === back.id && s.phase === 'rolled_back')!.t - t0);
    }
    delays.sort((a, b) => a - b);
    const summary = {
      samples: delays.length,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: delays.at(-1)!,
      target: 'p99 <= 1000 ms',
    };
    printTable(
      `Rollback propagation to 3 router processes, ${TRIALS} trials (ms)`,
      ['samples', 'p50', 'p99', 'max'],
      [[String(summary.samples), String(summary.p50), String(summary.p99), String(summary.max)]],
    );
    return summary;
  } finally {
    for (const c of children) c.child.kill('SIGTERM');
  }
}

await main();
