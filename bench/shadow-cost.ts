/**
 * What shadow reads cost the served path (issue 16 item 3): served p50/p95/p99 with shadow reads
 * off vs on 10% of searches, in ONE run, under the SAME open-loop traffic.
 *
 * One process, one migration in shadow at sample 0.1, four routers over it:
 *  - `off`: shadow reads disabled, and `off2`, a second one alike: the A/A pair whose ratio is
 *    the run's own noise;
 *  - `on`: shadow reads with the router's defaults (the low-priority queue: a sampled read starts
 *    only while no served search is in flight in the process, one at a time, max 64 waiting,
 *    max age 2 s);
 *  - `eager`: shadow reads that do not yield (max_inflight_served huge, 4 at once, 1 waiting), as
 *    they were scheduled before the queue: each starts right after its response.
 * Traffic is open-loop: arrivals at a fixed mean rate with exponential gaps from a seeded
 * generator (the same arrival schedule in every block), each search issued at its arrival time
 * whatever is still in flight, and its latency measured from the arrival it was scheduled for
 * (so a late start counts). The rate is a share (`REEMBED_BENCH_SHADOW_UTILIZATION`, 50%) of what
 * one closed-loop caller reaches on the `off` router, measured first, or `REEMBED_BENCH_SHADOW_RATE`.
 * Blocks of `REEMBED_BENCH_SHADOW_BLOCK_SECONDS` rotate through the routers, in an order
 * that changes every block, so drift in the machine's load reaches them all alike. Between
 * blocks, off the clock, the samples still waiting are run (drainShadows) and counted
 * ("left"), so no block inherits another's shadow work.
 *
 * On PostgreSQL (a throwaway cluster, or REEMBED_BENCH_DATABASE_URL) and, unless
 * REEMBED_BENCH_BACKENDS leaves it out, on the embedded PGlite. The query embedding is a
 * precomputed vector served by an in-process provider, so the figures are the router's and the
 * database's, not an embedder's.
 */
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import { backfillPlanner } from '../src/backfill/planner.js';
import type { Profile } from '../src/config/profile.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { createEmbedder } from '../src/embedders/create.js';
import { planMigration, shadowMigration, startMigration } from '../src/migration/lifecycle.js';
import { Router, type RouterOptions } from '../src/router/router.js';
import { seededRandom } from '../src/random.js';
import { migrations } from '../src/schema.js';
import { buildIndex } from '../src/store/index.js';
import { articlesManifest, articlesSource, createSourceTable, getProfile } from './lib/articles.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { collectGarbage } from './lib/measure.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const BACKENDS = listFromEnv('REEMBED_BENCH_BACKENDS', ['postgres', 'pglite'], ['postgres', 'pglite'] as const);
const PG_ROWS = intFromEnv('REEMBED_BENCH_SHADOW_ROWS', 20_000);
const PGLITE_ROWS = intFromEnv('REEMBED_BENCH_SHADOW_PGLITE_ROWS', 5_000);
const BLOCKS = intFromEnv('REEMBED_BENCH_SHADOW_BLOCKS', 10);
const BLOCK_SECONDS = intFromEnv('REEMBED_BENCH_SHADOW_BLOCK_SECONDS', 3);
const UTILIZATION_PERCENT = intFromEnv('REEMBED_BENCH_SHADOW_UTILIZATION', 50);
const FIXED_RATE = process.env.REEMBED_BENCH_SHADOW_RATE ? intFromEnv('REEMBED_BENCH_SHADOW_RATE', 1) : null;
const CALIBRATE_SECONDS = 3;
const SHADOW_SAMPLE = 0.1;
const DIMS = 384;

const VARIANTS = ['off', 'off2', 'on', 'eager'] as const;
type Variant = (typeof VARIANTS)[number];
const LABELS: Record<Variant, string> = {
  off: 'shadow off',
  off2: 'shadow off, a second router (A/A: the noise)',
  on: 'shadow 10%, queued (defaults)',
  eager: 'shadow 10%, not yielding (as before)',
};

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

/** Arrival offsets in ms over `seconds` at `rate` per second, exponential gaps. */
function arrivals(rate: number, seconds: number, seed: number): number[] {
  const random = seededRandom(seed);
  const out: number[] = [];
  for (let t = 0; ;) {
    t += (-Math.log(1 - random()) / rate) * 1000;
    if (t >= seconds * 1000) return out;
    out.push(t);
  }
}

interface Side {
  latencies: number[];
  errors: number;
  maxInFlight: number;
  shadowRuns: number;
  shadowErrors: number;
  dropped: { queue_full: number; too_old: number };
  /** Samples still waiting when a block ended, run by drainShadows off the clock. */
  leftAtBlockEnd: number;
}

interface Summary {
  searches: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  maxInFlight: number;
  shadowRuns: number;
  shadowErrors: number;
  dropped: { queue_full: number; too_old: number };
  leftAtBlockEnd: number;
}

async function openBackend(
  backend: 'postgres' | 'pglite',
): Promise<{ db: Database; close: () => Promise<void>; origin: string }> {
  if (backend === 'pglite') {
    const db = await openDatabase('memory://', { migrations });
    return { db, close: () => db.close(), origin: 'in-memory PGlite' };
  }
  const server = await startBenchServer();
  const scratch = await createScratchDatabase(server.adminUrl);
  const db = await openDatabase(scratch.url, { migrations });
  return {
    db,
    origin: server.origin,
    close: async () => {
      await db.close();
      await scratch.drop();
      server.stop();
    },
  };
}

async function measure(backend: 'postgres' | 'pglite'): Promise<Record<string, unknown>> {
  const rows = backend === 'postgres' ? PG_ROWS : PGLITE_ROWS;
  const { db, close, origin } = await openBackend(backend);
  try {
    await createSourceTable(db, rows);
    const manifest = articlesManifest({
      ctrl: { provider: 'hash', dims: DIMS },
      cand: { provider: 'hash', dims: DIMS, hash: { seed: 7 } },
    });
    const source = await articlesSource(db, manifest);
    const ctrl = getProfile(manifest, 'ctrl');
    const cand = getProfile(manifest, 'cand');
    for (const p of [ctrl, cand]) {
      await prepareBackfill(db, source, p, manifest.profiles, { chunkSize: 5000 });
      await runBackfill(db, { source, profiles: [p], workers: backend === 'postgres' ? 2 : 1, pageSize: 1000 });
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
    const provider = (profile: Profile) => ({
      provider: 'hash' as const,
      embedBatch: async (texts: string[]) => ({
        vectors: texts.map((t) => vectors.get(profile.name)!.get(t.slice(profile.query_prefix.length))!),
      }),
    });
    const ctx = { db, manifest, source, actor: 'bench', backfill: backfillPlanner };
    const m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', 'cand')).migration);
    await shadowMigration(ctx, m, SHADOW_SAMPLE);
    const base: RouterOptions = { defaultProfile: 'ctrl', embedderOptions: { provider }, hotDocuments: false };
    const routers: Record<Variant, Router> = {
      off: await new Router(db, manifest, source, { ...base, shadow: { enabled: false } }).start(),
      off2: await new Router(db, manifest, source, { ...base, shadow: { enabled: false } }).start(),
      on: await new Router(db, manifest, source, base).start(),
      eager: await new Router(db, manifest, source, {
        ...base,
        // The scheduling before the queue: p-limit(4), a sample dropped while another waits.
        shadow: { maxInflightServed: Number.MAX_SAFE_INTEGER, maxConcurrent: 4, maxQueued: 1 },
      }).start(),
    };
    try {
      // Warm every router (plans, pool connections, JIT).
      for (const r of Object.values(routers)) {
        for (let i = 0; i < 200; i++) await r.search(queries[i % queries.length]!, { subject: `w${i}` });
        await r.drainShadows();
      }
      // What one closed-loop caller reaches with shadow reads off: the open-loop rate is a share of it.
      let calibrated = 0;
      const until = performance.now() + CALIBRATE_SECONDS * 1000;
      while (performance.now() < until) {
        await routers.off.search(queries[calibrated % queries.length]!, { subject: `c${calibrated}` });
        calibrated++;
      }
      const capacity = calibrated / CALIBRATE_SECONDS;
      const rate = FIXED_RATE ?? Math.max(1, Math.round((capacity * UTILIZATION_PERCENT) / 100));
      const schedule = arrivals(rate, BLOCK_SECONDS, 16);

      const side = (): Side => ({
        latencies: [],
        errors: 0,
        maxInFlight: 0,
        shadowRuns: 0,
        shadowErrors: 0,
        dropped: { queue_full: 0, too_old: 0 },
        leftAtBlockEnd: 0,
      });
      const sides: Record<Variant, Side> = { off: side(), off2: side(), on: side(), eager: side() };
      const loadStart = loadavg();
      const started = new Date();
      for (let block = 0; block < BLOCKS; block++) {
        // Rotate the order: every router goes first, second and third equally often.
        const order = VARIANTS.map((_, i) => VARIANTS[(block + i) % VARIANTS.length]!);
        for (const variant of order) {
          const r = routers[variant];
          const current = sides[variant];
          const before = { ...r.stats, shadowDrops: { ...r.stats.shadowDrops } };
          collectGarbage();
          const t0 = performance.now();
          let inFlight = 0;
          const pending: Promise<void>[] = [];
          for (const [i, at] of schedule.entries()) {
            const wait = t0 + at - performance.now();
            if (wait > 0) await sleep(wait);
            const q = queries[(block * 31 + i) % queries.length]!;
            inFlight++;
            current.maxInFlight = Math.max(current.maxInFlight, inFlight);
            pending.push(
              r.search(q, { subject: `u${block}-${i}` }).then(
                () => {
                  current.latencies.push(performance.now() - (t0 + at));
                  inFlight--;
                },
                () => {
                  current.errors++;
                  inFlight--;
                },
              ),
            );
          }
          await Promise.all(pending);
          // Off the clock: what still waits is run now, so the next block starts without it.
          current.leftAtBlockEnd += r.shadowsPending;
          await r.drainShadows();
          current.shadowRuns += r.stats.shadowRuns - before.shadowRuns;
          current.shadowErrors += r.stats.shadowErrors - before.shadowErrors;
          current.dropped.queue_full += r.stats.shadowDrops.queue_full - before.shadowDrops.queue_full;
          current.dropped.too_old += r.stats.shadowDrops.too_old - before.shadowDrops.too_old;
        }
      }
      const loadEnd = loadavg();
      const summarize = (s: Side): Summary => {
        const sorted = [...s.latencies].sort((a, b) => a - b);
        return {
          searches: sorted.length,
          errors: s.errors,
          p50: percentile(sorted, 50),
          p95: percentile(sorted, 95),
          p99: percentile(sorted, 99),
          max: sorted.at(-1)!,
          maxInFlight: s.maxInFlight,
          shadowRuns: s.shadowRuns,
          shadowErrors: s.shadowErrors,
          dropped: s.dropped,
          leftAtBlockEnd: s.leftAtBlockEnd,
        };
      };
      const summary: Record<Variant, Summary> = {
        off: summarize(sides.off),
        off2: summarize(sides.off2),
        on: summarize(sides.on),
        eager: summarize(sides.eager),
      };
      const ratio = (v: Variant, p: 'p50' | 'p95' | 'p99') => summary[v][p] / summary.off[p];
      const fmt = (x: number) => x.toFixed(3);
      printTable(
        `Shadow cost on ${backend} (${origin}): ${formatNumber(rows)} rows × ${DIMS} dims, HNSW, k = 10; ` +
          `open-loop ${rate} searches/s (${UTILIZATION_PERCENT}% of one caller's ${capacity.toFixed(0)} q/s), ` +
          `${BLOCKS} blocks × ${BLOCK_SECONDS} s per router; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} → ` +
          `${loadEnd.map((l) => l.toFixed(2)).join(' ')} (ms)`,
        [
          'router',
          'searches',
          'p50',
          'p95',
          'p99',
          'max',
          'p95 ÷ off',
          'p99 ÷ off',
          'shadow run',
          'dropped full/old',
          'left',
        ],
        VARIANTS.map((v) => {
          const s = summary[v];
          return [
            LABELS[v],
            String(s.searches),
            fmt(s.p50),
            fmt(s.p95),
            fmt(s.p99),
            fmt(s.max),
            ratio(v, 'p95').toFixed(3),
            ratio(v, 'p99').toFixed(3),
            String(s.shadowRuns),
            `${s.dropped.queue_full}/${s.dropped.too_old}`,
            String(s.leftAtBlockEnd),
          ];
        }),
      );
      return {
        rows,
        dims: DIMS,
        origin,
        started: started.toISOString(),
        finished: new Date().toISOString(),
        loadAverageStart: loadStart,
        loadAverageEnd: loadEnd,
        capacityOneCaller: capacity,
        rate,
        blocks: BLOCKS,
        blockSeconds: BLOCK_SECONDS,
        arrivalsPerBlock: schedule.length,
        variants: summary,
        p99Ratio: { on: ratio('on', 'p99'), eager: ratio('eager', 'p99'), offAgain: ratio('off2', 'p99') },
        p95Ratio: { on: ratio('on', 'p95'), eager: ratio('eager', 'p95'), offAgain: ratio('off2', 'p95') },
        target: 'on p99 ÷ off p99 <= 1.05',
      };
    } finally {
      for (const r of Object.values(routers)) await r.close();
    }
  } finally {
    await close();
  }
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = {};
  for (const backend of BACKENDS) result[backend] = await measure(backend);
  console.log(`\nresult: ${writeResult('shadow-cost', result)}`);
}

await main();
