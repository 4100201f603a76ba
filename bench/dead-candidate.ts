/**
 * A dead candidate under sparse canary traffic (issue 17), on PostgreSQL: a canary at 25%, one
 * search a second from random subjects, the runbook's default gates and breaker, and the
 * controller ticking every 10 s. After a healthy minute the candidate's provider stops
 * answering (each call hangs until the breaker's timeout). Measured from that moment: how
 * many candidate searches and how long until the breaker opens; served latency of canary
 * subjects before and after it opens, beside the control's; and how long until the controller
 * has rolled the migration back.
 */
import { backfillPlanner } from '../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import type { Profile } from '../src/config/profile.js';
import { openDatabase } from '../src/db/open.js';
import { createEmbedder } from '../src/embedders/create.js';
import { Controller } from '../src/gates/controller.js';
import { planMigration, rampMigration, shadowMigration, startMigration } from '../src/migration/lifecycle.js';
import { getMigration } from '../src/migration/state.js';
import { inCanary } from '../src/router/bucket.js';
import { Router } from '../src/router/router.js';
import { migrations } from '../src/schema.js';
import { ARTICLES_SOURCE, articlesSource, createSourceTable } from './lib/articles.js';
import { intFromEnv } from './lib/env.js';
import { createScratchDatabase, startBenchServer } from './lib/postgres-cluster.js';
import { printTable, writeResult } from './lib/report.js';

const HEALTHY_SECONDS = intFromEnv('REEMBED_BENCH_DEAD_HEALTHY_SECONDS', 60);
const RATE = intFromEnv('REEMBED_BENCH_DEAD_RATE', 1);
const INTERVAL = '10s';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (values: number[], p: number) => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

async function main(): Promise<void> {
  const server = await startBenchServer();
  const scratch = await createScratchDatabase(server.adminUrl);
  const db = await openDatabase(scratch.url, { migrations });
  try {
    await createSourceTable(db, 2000);
    const manifest = buildManifest(
      {
        source: ARTICLES_SOURCE,
        profiles: { ctrl: { provider: 'hash', dims: 64 }, cand: { provider: 'hash', dims: 64, hash: { seed: 7 } } },
        // The runbook's default gates; only the interval is shortened from 60 s.
        rollout: { steps: [25, 100], interval: INTERVAL, step_min_duration: '1h' },
      },
      null,
    );
    const source = await articlesSource(db, manifest);
    const ctrl = getProfile(manifest, 'ctrl');
    const cand = getProfile(manifest, 'cand');
    const ctx = { db, manifest, source, actor: 'bench', backfill: backfillPlanner };
    for (const p of [ctrl, cand]) await prepareBackfill(db, source, p, manifest.profiles);
    await runBackfill(db, { source, profiles: [ctrl] });
    let m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', 'cand')).migration);
    await runBackfill(db, { source, profiles: [cand] });
    m = await rampMigration(ctx, await shadowMigration(ctx, m, 0), 25);

    // The candidate's provider: the hash embedder in process, until it dies and hangs.
    let dead = false;
    const provider = (profile: Profile) => {
      const real = createEmbedder({ ...profile });
      return {
        provider: profile.provider,
        embedBatch: async (texts: string[]) => {
          if (dead && profile.name === 'cand') await new Promise(() => {});
          return { vectors: (await real.embed(texts, 'document')).vectors };
        },
      };
    };
    const router = await new Router(db, manifest, source, {
      defaultProfile: 'ctrl',
      embedderOptions: { provider },
      hotDocuments: false,
    }).start();
    const controller = new Controller({ db, manifest, source });
    const abort = new AbortController();
    const ticks: Array<{ at: number; decision: string; reason: string }> = [];
    let killedAt = 0;
    const running = controller.run({
      signal: abort.signal,
      onTick: (t) => ticks.push({ at: performance.now(), decision: t.tick.decision, reason: t.tick.reason }),
      onError: (e) => console.error('controller tick failed:', e),
    });

    const samples: Array<{ at: number; canary: boolean; profile: string; fallback: string | null; ms: number }> = [];
    let candidateAttemptsAfterKill = 0;
    let breakerOpenAt: number | null = null;
    let candidateAttemptsToOpen: number | null = null;
    let rolledBackAt: number | null = null;
    const started = performance.now();
    for (let i = 0; ; i++) {
      const at = performance.now();
      if (!dead && at - started > HEALTHY_SECONDS * 1000) {
        dead = true;
        killedAt = at;
        console.log(`${((at - started) / 1000).toFixed(1)} s: the candidate's provider stops answering`);
      }
      const subject = `user-${Math.floor(Math.random() * 1e9)}`;
      const canary = inCanary(m.id, subject, 25) && rolledBackAt === null;
      const res = await router.search(`article ${i % 200} about cats`, { subject });
      if (dead && canary && res.fallbackReason?.kind !== 'breaker_open' && breakerOpenAt === null)
        candidateAttemptsAfterKill++;
      if (dead && breakerOpenAt === null && router.breakerState('cand') === 'open') {
        breakerOpenAt = performance.now();
        candidateAttemptsToOpen = candidateAttemptsAfterKill;
        console.log(
          `breaker open ${((breakerOpenAt - killedAt) / 1000).toFixed(1)} s after the provider died, ${candidateAttemptsToOpen} candidate searches`,
        );
      }
      samples.push({
        at,
        canary,
        profile: res.profile,
        fallback: res.fallbackReason?.kind ?? null,
        ms: res.latencyMs.total,
      });
      if (dead && rolledBackAt === null && (await getMigration(db, m.id)).phase === 'rolled_back') {
        rolledBackAt = performance.now();
        console.log(`rolled back ${((rolledBackAt - killedAt) / 1000).toFixed(1)} s after the provider died`);
        break;
      }
      if (dead && performance.now() - killedAt > 10 * 60_000) break;
      const wait = 1000 / RATE - (performance.now() - at);
      if (wait > 0) await sleep(wait);
    }
    abort.abort();
    await running.catch(() => null);
    await router.close();

    const served = (filter: (s: (typeof samples)[number]) => boolean) => samples.filter(filter).map((s) => s.ms);
    const healthyCtl = served((s) => !s.canary && s.at < killedAt);
    const afterOpenCanary = served((s) => s.canary && breakerOpenAt !== null && s.at > breakerOpenAt);
    const afterOpenCtl = served((s) => !s.canary && breakerOpenAt !== null && s.at > breakerOpenAt);
    const fmt = (v: number | null) => (v === null ? '-' : v.toFixed(1));
    printTable(
      `Dead candidate at canary 25%, ${RATE} search/s, default breaker and gates, interval ${INTERVAL}, PostgreSQL`,
      ['measure', 'value'],
      [
        ['candidate searches from death to breaker open', String(candidateAttemptsToOpen ?? '-')],
        ['seconds from death to breaker open', fmt(breakerOpenAt === null ? null : (breakerOpenAt - killedAt) / 1000)],
        ['seconds from death to rollback', fmt(rolledBackAt === null ? null : (rolledBackAt - killedAt) / 1000)],
        ['served p95 ms, control subjects, healthy', fmt(percentile(healthyCtl, 95))],
        ['served p95 ms, canary subjects, breaker open', fmt(percentile(afterOpenCanary, 95))],
        ['served p95 ms, control subjects, breaker open', fmt(percentile(afterOpenCtl, 95))],
        ['controller ticks after death', String(ticks.filter((t) => t.at > killedAt).length)],
      ],
    );
    const rollback = ticks.find((t) => t.decision === 'rollback');
    if (rollback) console.log(`rollback reason: ${rollback.reason}`);
    writeResult('dead-candidate', {
      rate: RATE,
      interval: INTERVAL,
      candidateSearchesToOpen: candidateAttemptsToOpen,
      secondsToOpen: breakerOpenAt === null ? null : (breakerOpenAt - killedAt) / 1000,
      secondsToRollback: rolledBackAt === null ? null : (rolledBackAt - killedAt) / 1000,
      p95: {
        controlHealthy: percentile(healthyCtl, 95),
        canaryBreakerOpen: percentile(afterOpenCanary, 95),
        controlBreakerOpen: percentile(afterOpenCtl, 95),
      },
      rollbackReason: rollback?.reason ?? null,
    });
    if (rolledBackAt === null) process.exitCode = 1;
  } finally {
    await db.close();
    await scratch.drop();
    server.stop();
  }
}

await main();
