/**
 * Issue 17, done when: on PostgreSQL, with the application changing rows all the time and one
 * worker following them, the controller promotes a healthy candidate 5 → 25 → 50 → cutover
 * without --force; with the worker paused, the queue lag grows past the limit and the rollout is
 * held with the "live changes" message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { setControl } from '../../src/backfill/control.js';
import { Worker } from '../../src/backfill/worker.js';
import type { Database } from '../../src/db/database.js';
import { Controller, type TickReport } from '../../src/gates/controller.js';
import { planMigration, startMigration, type LifecycleContext } from '../../src/migration/lifecycle.js';
import { getMigration, listEvents } from '../../src/migration/state.js';
import { Router } from '../../src/router/router.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { openTestDatabase } from '../helpers/databases.js';
import { scaled } from '../helpers/slowdown.js';

const ROWS = 1000;

/** The application: changes one row's text every few milliseconds until stopped. */
function writer(db: Database): { stop: () => Promise<number> } {
  let running = true;
  let changes = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await db.query(`UPDATE public.articles SET body = body || ' w' WHERE id = $1`, [1 + ((i * 37) % ROWS)]);
      changes++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return changes;
    },
  };
}

function traffic(router: Router): { stop: () => Promise<void> } {
  let running = true;
  const loops = Array.from({ length: 2 }, async (_, loop) => {
    for (let i = 0; running; i++) await router.search(`article ${i % 7} cats`, { subject: `u-${loop}-${i}`, k: 5 });
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function setUp(rollout: Record<string, unknown>) {
  const db = await openTestDatabase('postgres');
  await createArticles(db, ROWS);
  const manifest = articlesManifest(
    {},
    {
      rollout: {
        interval: '400ms',
        step_min_duration: '400ms',
        step_min_requests: 10,
        shadow_sample: 0,
        gates: [
          { name: 'coverage', metric: 'coverage', min: 1 },
          { name: 'verify', metric: 'verify.failed_checks', max: 0 },
        ],
        ...rollout,
      },
    },
  );
  const source = await articlesSource(db, manifest);
  const ctx: LifecycleContext = { db, manifest, source, actor: 'test', backfill: backfillPlanner };
  const small = getProfile(manifest, 'small');
  await prepareBackfill(db, source, small, manifest.profiles);
  await runBackfill(db, { source, profiles: [small] });
  const m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
  const stop = new AbortController();
  const worker = new Worker(db, {
    source,
    profiles: [small, getProfile(manifest, 'big')],
    mode: 'forever',
    signal: stop.signal,
    idlePollMs: 50,
    controlPollMs: 100,
  });
  const working = worker.run().catch((e: unknown) => (stop.signal.aborted ? null : Promise.reject(e)));
  const router = await new Router(db, manifest, source, {
    defaultProfile: 'small',
    metrics: { windowMs: 100, instance: 'test' },
    hotDocuments: false,
  }).start();
  return { db, manifest, source, router, migrationId: m.id, stopWorker: () => (stop.abort(), working) };
}

describe('promotion under live writes on postgres', () => {
  let env: Awaited<ReturnType<typeof setUp>> | undefined;
  afterEach(async () => {
    await env?.router.close();
    await env?.stopWorker();
    await env?.db.close();
    env = undefined;
  });

  it('promotes 5 → 25 → 50 → cutover without --force while rows keep changing', async () => {
    env = await setUp({ max_queue_lag: '30s', min_coverage: 0.99 });
    const write = writer(env.db);
    const load = traffic(env.router);
    const ticks: TickReport[] = [];
    try {
      const controller = new Controller({ db: env.db, manifest: env.manifest, source: env.source });
      await controller.run({ signal: AbortSignal.timeout(scaled(120_000)), onTick: (t) => ticks.push(t) });
    } finally {
      await load.stop();
      expect(await write.stop()).toBeGreaterThan(20);
    }
    const m = await getMigration(env.db, env.migrationId);
    expect(m.phase, ticks.map((t) => t.tick.reason).join('\n')).toBe('cutover');
    const steps = (await listEvents(env.db, m.id)).filter((e) => e.actor === 'controller');
    expect(steps.map((e) => [e.action, e.toPercent])).toEqual([
      ['shadow', 0],
      ['ramp', 5],
      ['ramp', 25],
      ['ramp', 50],
      ['cutover', 100],
    ]);
    for (const e of steps) expect(e.details.forced).toBeUndefined();
    // Some promotion happened with changes in flight: counted coverage under 1 at that instant.
    const inFlight = steps
      .map((e) => (e.details.evidence as { readiness?: { inFlight: number } } | undefined)?.readiness?.inFlight ?? 0)
      .reduce((a, b) => a + b, 0);
    expect(inFlight).toBeGreaterThan(0);
  });

  it('holds with the live-changes message while the worker is paused and the lag exceeds the limit', async () => {
    env = await setUp({ max_queue_lag: '1s', min_coverage: 0.5 });
    // Let the backfill finish first, then stop following changes for the candidate.
    const controller = new Controller({ db: env.db, manifest: env.manifest, source: env.source });
    const ticks: TickReport[] = [];
    const deadline = AbortSignal.timeout(scaled(60_000));
    while (!deadline.aborted && (await getMigration(env.db, env.migrationId)).phase !== 'shadow') {
      ticks.push(await controller.tick());
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await getMigration(env.db, env.migrationId)).phase).toBe('shadow');
    await setControl(env.db, 'big', { paused: true }, 'test');
    const write = writer(env.db);
    // Longer than the lag: the oldest queued change is now over the limit.
    await new Promise((r) => setTimeout(r, 1500));
    let held: TickReport | undefined;
    try {
      while (!deadline.aborted && !held) {
        await new Promise((r) => setTimeout(r, 400));
        const t = await controller.tick();
        ticks.push(t);
        if (/live changes in flight, oldest \d+ s \(limit 1 s\)/.test(t.tick.reason)) held = t;
      }
    } finally {
      await write.stop();
    }
    expect(held?.tick.decision, ticks.map((t) => t.tick.reason).join('\n')).toBe('hold');
    expect((await getMigration(env.db, env.migrationId)).phase).toBe('shadow');
  });
});
