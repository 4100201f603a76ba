/**
 * Router under load (issue 14), on PostgreSQL: one Router at canary 50% with shadow reads on
 * 10% of searches, driven by 1, 8, 32, 128 and 512 closed-loop callers for a bounded time each,
 * then a soak of 128 callers sampling the process's RSS.
 *
 *  - per level: q/s, p50/p99 of answered searches, errors by kind, fallbacks, overload
 *    rejections, deadline failures, breaker trips, and the candidate's errors in the serving
 *    metrics the controller's gates read. Goal: 0 candidate errors and 0 breaker trips from
 *    saturation at every level, p99 bounded by the search deadline;
 *  - same-run ratios: q/s at each level ÷ q/s at 1 caller, and, at each level, the router with
 *    shadow 0.1 against the same router with shadow reads off, alternated in blocks;
 *  - soak: RSS every 5 s after a warm-up; goal: flat within 50 MB.
 *
 * The router runs with its defaults (max_concurrent_searches 8, max_queued_searches 512,
 * search_deadline 5 s, breaker timeout 2 s) on openDatabase's pool of 10. The query embedding
 * is a precomputed vector served by an in-process provider, as in bench/router.ts, so the
 * figures are the router's and the database's, not an embedder's.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { backfillPlanner } from '../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import type { Profile } from '../src/config/profile.js';
import { databaseNow } from '../src/db/clock.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { createEmbedder } from '../src/embedders/create.js';
import { planMigration, rampMigration, shadowMigration, startMigration } from '../src/migration/lifecycle.js';
import {
  DEFAULT_MAX_CONCURRENT_SEARCHES,
  DEFAULT_MAX_QUEUED_SEARCHES,
  DEFAULT_SEARCH_DEADLINE_MS,
} from '../src/router/load.js';
import { Router, type RouterStats } from '../src/router/router.js';
import { migrations } from '../src/schema.js';
import { buildIndex } from '../src/store/index.js';
import { readServingMetrics, type ServingSummary } from '../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createSourceTable, getProfile } from './lib/articles.js';
import { intFromEnv } from './lib/env.js';
import { intListFromEnv } from './lib/env-list.js';
import { emptyTally, errorKind, runCallers, type Tally } from './lib/load.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { kinds, levelGoalMet, ms, printLevels, printSoak, type ReportSettings } from './lib/router-load-report.js';
import { formatNumber, writeResult } from './lib/report.js';

const ROWS = intFromEnv('REEMBED_BENCH_LOAD_ROWS', 5_000);
const LEVELS = intListFromEnv('REEMBED_BENCH_CALLERS', [1, 8, 32, 128, 512]);
const SECONDS = intFromEnv('REEMBED_BENCH_SECONDS', 10);
const BLOCK_SECONDS = intFromEnv('REEMBED_BENCH_BLOCK_SECONDS', 2);
const SOAK_SECONDS = intFromEnv('REEMBED_BENCH_SOAK_SECONDS', 180);
const SOAK_WARMUP_SECONDS = intFromEnv('REEMBED_BENCH_SOAK_WARMUP_SECONDS', 20);
const SOAK_CALLERS = intFromEnv('REEMBED_BENCH_SOAK_CALLERS', 128);
const RSS_EVERY_SECONDS = 5;
const CANARY_PERCENT = 50;
const SHADOW_SAMPLE = 0.1;
const MAX_PER_CALLER = 1_000_000;
const BACKOFF_MS = 10;
/** The goal, "flat within 50 MB", in the MiB everything here is reported in. */
const RSS_GOAL_MIB = 50e6 / 2 ** 20;
const DEADLINE_MS = DEFAULT_SEARCH_DEADLINE_MS;
const MiB = 2 ** 20;
const REPORT: ReportSettings = {
  rows: ROWS,
  secondsPerLevel: SECONDS,
  canaryPercent: CANARY_PERCENT,
  shadowSample: SHADOW_SAMPLE,
  deadlineMs: DEADLINE_MS,
  rssEverySeconds: RSS_EVERY_SECONDS,
  rssGoalMiB: RSS_GOAL_MIB,
};

type Counters = Pick<
  RouterStats,
  'fallbacks' | 'breakerOpens' | 'overloaded' | 'deadlineExceeded' | 'shadowRuns' | 'shadowErrors' | 'shadowDropped'
>;
const COUNTERS = [
  'fallbacks',
  'breakerOpens',
  'overloaded',
  'deadlineExceeded',
  'shadowRuns',
  'shadowErrors',
  'shadowDropped',
] as const;
const counters = (s: RouterStats): Counters =>
  Object.fromEntries(COUNTERS.map((k) => [k, s[k]])) as unknown as Counters;
const delta = (after: Counters, before: Counters): Counters =>
  Object.fromEntries(COUNTERS.map((k) => [k, after[k] - before[k]])) as unknown as Counters;

function summarize(t: Tally) {
  return {
    ok: t.ok,
    seconds: t.seconds,
    qps: t.ok / t.seconds,
    p50: t.latency.quantile(0.5),
    p99: t.latency.quantile(0.99),
    queuedP50: t.queued.quantile(0.5),
    queuedP99: t.queued.quantile(0.99),
    maxAnsweredMs: t.latency.max,
    maxCallMs: t.maxCallMs,
    errors: t.errors,
    fallbacks: t.fallbacks,
    served: t.served,
  };
}

function metricsSummary(s: ServingSummary) {
  return { requests: s.requests, errors: s.errors, fallbacks: s.fallbacks, breakerOpens: s.breakerOpens };
}

interface Env {
  db: Database;
  routers: { on: Router; off: Router };
  queries: string[];
  backgroundErrors: Record<string, number>;
}

const searchOf = (router: Router, queries: string[]) => (c: number, i: number) =>
  router.search(queries[(c * 31 + i) % queries.length]!, { subject: `user-${(c * 7919 + i) % 10_000}` });

/** Lets shadow reads in flight finish, then writes both routers' metrics windows. */
async function quiesce(env: Env): Promise<void> {
  await sleep(500);
  await Promise.all([env.routers.on.metrics!.flush(), env.routers.off.metrics!.flush()]);
}

async function servingMetrics(env: Env, from: Date) {
  await quiesce(env);
  const to = await databaseNow(env.db);
  return {
    cand: await readServingMetrics(env.db, 'cand', { from, to }),
    ctrl: await readServingMetrics(env.db, 'ctrl', { from, to }),
  };
}

/** One concurrency level: the shadow-on and shadow-off routers alternate in blocks, SECONDS each in all. */
async function level(env: Env, callers: number) {
  await quiesce(env);
  const startedAt = new Date().toISOString();
  const from = await databaseNow(env.db);
  const before = { on: counters(env.routers.on.stats), off: counters(env.routers.off.stats) };
  const tallies = { on: emptyTally(), off: emptyTally() };
  const blocks = Math.max(1, Math.ceil(SECONDS / BLOCK_SECONDS));
  for (let b = 0; b < blocks; b++) {
    for (const side of b % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      await runCallers(
        {
          callers,
          ms: (SECONDS * 1000) / blocks,
          maxPerCaller: MAX_PER_CALLER,
          backoffMs: BACKOFF_MS,
          search: searchOf(env.routers[side], env.queries),
        },
        tallies[side],
      );
    }
  }
  const metrics = await servingMetrics(env, from);
  return {
    callers,
    startedAt,
    endedAt: new Date().toISOString(),
    on: { ...summarize(tallies.on), router: delta(counters(env.routers.on.stats), before.on) },
    off: { ...summarize(tallies.off), router: delta(counters(env.routers.off.stats), before.off) },
    breakerState: { on: env.routers.on.breakerState('cand'), off: env.routers.off.breakerState('cand') },
    servingMetrics: { cand: metricsSummary(metrics.cand), ctrl: metricsSummary(metrics.ctrl) },
  };
}

export type Level = Awaited<ReturnType<typeof level>>;
export type Soak = Awaited<ReturnType<typeof soak>>;

async function soak(env: Env) {
  const router = env.routers.on;
  await quiesce(env);
  const startedAt = new Date().toISOString();
  const from = await databaseNow(env.db);
  const before = counters(router.stats);
  const tally = emptyTally();
  // A second past the last sample, so the last one is taken under load.
  const load = runCallers(
    {
      callers: SOAK_CALLERS,
      ms: (SOAK_WARMUP_SECONDS + SOAK_SECONDS + 1) * 1000,
      maxPerCaller: MAX_PER_CALLER,
      backoffMs: BACKOFF_MS,
      search: searchOf(router, env.queries),
    },
    tally,
  );
  await sleep(SOAK_WARMUP_SECONDS * 1000);
  const samples: Array<{ t: number; rssMiB: number; heapUsedMiB: number; ok: number }> = [];
  const t0 = performance.now();
  for (let k = 0; k <= Math.floor(SOAK_SECONDS / RSS_EVERY_SECONDS); k++) {
    await sleep(Math.max(0, t0 + k * RSS_EVERY_SECONDS * 1000 - performance.now()));
    const m = process.memoryUsage();
    samples.push({
      t: (performance.now() - t0) / 1000,
      rssMiB: m.rss / MiB,
      heapUsedMiB: m.heapUsed / MiB,
      ok: tally.ok,
    });
  }
  await load;
  const metrics = await servingMetrics(env, from);
  const rss = samples.map((s) => s.rssMiB);
  const first = rss[0]!;
  const last = rss.at(-1)!;
  // Least-squares slope of RSS over time, MiB per minute.
  const n = samples.length;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mr = rss.reduce((a, r) => a + r, 0) / n;
  const cov = samples.reduce((a, s) => a + (s.t - mt) * (s.rssMiB - mr), 0);
  const vt = samples.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  return {
    callers: SOAK_CALLERS,
    startedAt,
    endedAt: new Date().toISOString(),
    warmupSeconds: SOAK_WARMUP_SECONDS,
    seconds: SOAK_SECONDS,
    load: summarize(tally),
    router: delta(counters(router.stats), before),
    breakerState: router.breakerState('cand'),
    servingMetrics: { cand: metricsSummary(metrics.cand), ctrl: metricsSummary(metrics.ctrl) },
    rss: {
      firstMiB: first,
      lastMiB: last,
      maxMiB: Math.max(...rss),
      minMiB: Math.min(...rss),
      growthMiB: last - first,
      maxAboveFirstMiB: Math.max(...rss) - first,
      // RSS follows the heap's sawtooth (tens of MiB between collections), so one sample's
      // growth depends on where in it the two samples fall; "flat" means every sample in a band.
      rangeMiB: Math.max(...rss) - Math.min(...rss),
      slopeMiBPerMinute: vt > 0 ? (cov / vt) * 60 : 0,
      heapUsedFirstMiB: samples[0]!.heapUsedMiB,
      heapUsedLastMiB: samples.at(-1)!.heapUsedMiB,
      goal: `|growth| and max - min <= 50 MB (${RSS_GOAL_MIB.toFixed(1)} MiB)`,
    },
    samples,
  };
}

async function setUp(db: Database) {
  await createSourceTable(db, ROWS);
  const manifest = articlesManifest({
    ctrl: { provider: 'hash', dims: 384 },
    cand: { provider: 'hash', dims: 384, hash: { seed: 7 } },
  });
  const source = await articlesSource(db, manifest);
  const ctrl = getProfile(manifest, 'ctrl');
  const cand = getProfile(manifest, 'cand');
  const ctx = { db, manifest, source, actor: 'bench', backfill: backfillPlanner };
  await prepareBackfill(db, source, ctrl, manifest.profiles, { chunkSize: 5000 });
  await runBackfill(db, { source, profiles: [ctrl], workers: 2, pageSize: 1000 });
  let m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', 'cand')).migration);
  await runBackfill(db, { source, profiles: [cand], workers: 2, pageSize: 1000 });
  for (const p of [ctrl, cand]) await buildIndex(db, p);
  m = await rampMigration(ctx, await shadowMigration(ctx, m, SHADOW_SAMPLE), CANARY_PERCENT);
  if (m.phase !== 'canary' || m.percent !== CANARY_PERCENT || m.shadowSample !== SHADOW_SAMPLE)
    throw new Error(`setup: expected canary ${CANARY_PERCENT}% shadow ${SHADOW_SAMPLE}, got ${JSON.stringify(m)}`);

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
  const backgroundErrors: Record<string, number> = {};
  const options = {
    defaultProfile: 'ctrl',
    embedderOptions: { provider },
    onBackgroundError: (error: unknown) => {
      const kind = errorKind(error);
      backgroundErrors[kind] = (backgroundErrors[kind] ?? 0) + 1;
    },
  };
  const on = await new Router(db, manifest, source, options).start();
  const off = await new Router(db, manifest, source, { ...options, shadow: { enabled: false } }).start();
  for (const r of [on, off]) {
    await r.refresh();
    const seen = r.migration();
    if (seen?.id !== m.id || seen.version !== m.version) throw new Error('setup: a router does not see the migration');
  }
  return { env: { db, routers: { on, off }, queries, backgroundErrors } satisfies Env, migration: m };
}

async function main(): Promise<void> {
  const started = new Date();
  const loadAtStart = loadavg();
  console.log(
    `load average ${loadAtStart.map((v) => v.toFixed(2)).join(' ')}; router defaults: ` +
      `max_concurrent_searches ${DEFAULT_MAX_CONCURRENT_SEARCHES}, max_queued_searches ${DEFAULT_MAX_QUEUED_SEARCHES}, ` +
      `search_deadline ${DEADLINE_MS} ms`,
  );
  const server = await startBenchServer();
  const scratch = await createScratchDatabase(server.adminUrl);
  const db = await openDatabase(scratch.url, { migrations });
  const result: Record<string, unknown> = {
    rows: ROWS,
    dims: 384,
    secondsPerLevel: SECONDS,
    blockSeconds: BLOCK_SECONDS,
    canaryPercent: CANARY_PERCENT,
    shadowSample: SHADOW_SAMPLE,
    router: {
      maxConcurrentSearches: DEFAULT_MAX_CONCURRENT_SEARCHES,
      maxQueuedSearches: DEFAULT_MAX_QUEUED_SEARCHES,
      searchDeadlineMs: DEADLINE_MS,
      pool: 10,
    },
    callerBackoffMs: BACKOFF_MS,
    server: server.origin,
    startedAt: started.toISOString(),
    loadAverageAtStart: loadAtStart,
  };
  let env: Env | undefined;
  try {
    const { rows } = await db.query<{ server: string; pgvector: string }>(
      "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
    );
    result.versions = rows[0];
    const set = await setUp(db);
    env = set.env;
    result.migration = { id: set.migration.id, phase: set.migration.phase, percent: set.migration.percent };
    // Warm both routers (plans, pool connections, JIT) off the record.
    for (const side of ['on', 'off'] as const)
      await runCallers(
        {
          callers: 8,
          ms: 2000,
          maxPerCaller: MAX_PER_CALLER,
          backoffMs: BACKOFF_MS,
          search: searchOf(env.routers[side], env.queries),
        },
        emptyTally(),
      );
    const levels: Level[] = [];
    for (const callers of LEVELS) {
      const l = await level(env, callers);
      levels.push(l);
      console.log(
        `${callers} callers: ${formatNumber(l.on.qps)} q/s, p99 ${ms(l.on.p99)} ms, errors ${kinds(l.on.errors)}, ` +
          `candidate errors ${l.servingMetrics.cand.errors}, breaker trips ${l.on.router.breakerOpens + l.off.router.breakerOpens}`,
      );
    }
    printLevels(levels, REPORT);
    const base = levels.find((l) => l.callers === 1)?.on.qps ?? levels[0]!.on.qps;
    result.levels = levels.map((l) => ({
      ...l,
      qpsRatioToOneCaller: l.on.qps / base,
      qpsRatioShadowOnOff: l.on.qps / l.off.qps,
      p99RatioShadowOnOff: l.on.p99 !== null && l.off.p99 ? l.on.p99 / l.off.p99 : null,
      goalMet: levelGoalMet(l, DEADLINE_MS),
    }));
    result.goal = `candidate errors 0 and breaker trips 0 at every level; p99 <= ${DEADLINE_MS} ms`;

    const s = await soak(env);
    printSoak(s, REPORT);
    result.soak = s;
    result.backgroundErrors = env.backgroundErrors;
    if (Object.keys(env.backgroundErrors).length > 0)
      console.log(`\nbackground errors (shadow reads, hot documents, metrics): ${kinds(env.backgroundErrors)}`);
  } finally {
    if (env) for (const r of Object.values(env.routers)) await r.close();
    await db.close();
    await scratch.drop();
    server.stop();
  }
  const loadAtEnd = loadavg();
  result.loadAverageAtEnd = loadAtEnd;
  result.wallSeconds = (Date.now() - started.getTime()) / 1000;
  console.log(
    `\nload average at the end ${loadAtEnd.map((v) => v.toFixed(2)).join(' ')}; ${result.wallSeconds} s wall clock`,
  );
  console.log(`\nresult: ${writeResult('router-load', result)}`);
}

await main();
