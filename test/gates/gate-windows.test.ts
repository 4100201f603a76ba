/**
 * Issue 14 finding 5: each tick measured (now − interval, now], but ticks are an interval plus
 * the tick's own time apart, so traffic between two windows was never counted (a breaker trip
 * in that gap went unseen). Windows now start where the last judged one ended.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { databaseNow } from '../../src/db/clock.js';
import type { Database } from '../../src/db/database.js';
import { parseRollout } from '../../src/config/rollout.js';
import { Controller } from '../../src/gates/controller.js';
import {
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { getMigration, type MigrationState } from '../../src/migration/state.js';
import { ServingMetricsRecorder } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe.each(BACKENDS)('gate windows on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  let m: MigrationState;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 40);
    const manifest = articlesManifest(
      {},
      {
        rollout: {
          steps: [50, 100],
          interval: '1s',
          step_min_duration: '1h',
          gates: [{ name: 'breaker-trips', metric: 'online.breaker_opens', max: 0, min_samples: 1, failure_limit: 1 }],
        },
      },
    );
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    for (const name of ['small', 'big']) {
      if (name === 'big') m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
      else await prepareBackfill(db, ctx.source, getProfile(manifest, name), manifest.profiles);
      await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, name)] });
    }
    m = await rampMigration(ctx, await shadowMigration(ctx, m, 0), 50);
  });
  afterEach(() => db.close());

  async function serve(profile: string, requests: number, breakerOpens: number, errors = 0): Promise<void> {
    const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
    r.setMigration({ id: m.id, version: m.version });
    for (let i = 0; i < requests; i++)
      r.request(profile, i < errors ? { ok: false, fallback: true } : { ok: true, latencyMs: 2 });
    for (let i = 0; i < breakerOpens; i++) r.breakerOpened(profile);
    await r.close();
  }

  it('counts a breaker trip that falls between two ticks', async () => {
    await serve('big', 5, 0);
    await serve('small', 5, 0);
    let clock = new Date((await databaseNow(db)).getTime() + 100);
    const controller = new Controller({ db, manifest: ctx.manifest, source: ctx.source, now: () => clock });
    const first = await controller.tick();
    expect(first.gates[0]).toMatchObject({ gate: 'breaker-trips', verdict: 'pass', candidate: 0 });
    expect(first.tick.decision).toBe('hold');
    // Written after the first window ended...
    while ((await databaseNow(db)).getTime() <= clock.getTime()) await new Promise((r) => setTimeout(r, 20));
    await serve('big', 1, 1);
    const trip = await databaseNow(db);
    // ...and the next tick an interval and a half later: (now − interval, now] starts after the trip.
    clock = new Date(trip.getTime() + 1500);
    const second = await controller.tick();
    expect(second.gates[0]).toMatchObject({ gate: 'breaker-trips', verdict: 'fail', candidate: 1 });
    expect(second.tick.decision).toBe('rollback');
    expect((await getMigration(db, m.id)).phase).toBe('rolled_back');
  });

  /**
   * The demo ticks the controller after each round of traffic (windowsByTick): a serving gate's
   * window is all of the step since its last verdict, and every tick measures again, so a loaded
   * machine that takes a minute for a round gets the same verdicts as an idle one.
   */
  it('by tick: windows hold all of the step since the last verdict, and every tick measures', async () => {
    const problems: string[] = [];
    const rollout = parseRollout(
      {
        steps: [50, 100],
        interval: '1h',
        step_min_duration: '1h',
        gates: [{ name: 'error-rate', metric: 'online.error_rate', max_increase: 0.002, min_samples: 30 }],
      },
      problems,
    )!;
    expect(problems).toEqual([]);
    const byTick = new Controller({ db, manifest: ctx.manifest, source: ctx.source, rollout, windowsByTick: true });
    await serve('big', 20, 0);
    await serve('small', 30, 0);
    // 20 candidate requests are fewer than min_samples: no verdict, and they stay in the window.
    expect((await byTick.tick()).gates[0]).toMatchObject({ gate: 'error-rate', verdict: 'no_data' });
    await serve('big', 10, 0);
    expect((await byTick.tick()).gates[0]).toMatchObject({ verdict: 'pass', candidate: 0 });
    // The next round fails 3 of 30. Measured again at once, though the gate's interval is an hour
    // (judged by time, the pass would stand until then), and over the round alone: 3/30, not 3/60.
    await serve('big', 30, 0, 3);
    await serve('small', 30, 0);
    expect((await byTick.tick()).gates[0]).toMatchObject({ verdict: 'fail', candidate: 0.1, control: 0 });
  });
});
