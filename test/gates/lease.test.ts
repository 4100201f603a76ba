import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { Controller, type TickReport } from '../../src/gates/controller.js';
import { acquireLease, CONTROLLER_LEASES_TABLE, ControllerStandby, currentLease } from '../../src/gates/lease.js';
import { listTicks } from '../../src/gates/tables.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import {
  planMigration,
  rollbackMigration,
  sourceName,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { getMigration } from '../../src/migration/state.js';
import { articlesManifest, articlesSource, createArticles, getProfile, sleep } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { backfillPlanner } from '../../src/backfill/planner.js';

const DEAD = { holder: 'dead-host-1-abc', host: 'dead-host', pid: 1 };

describe.each(BACKENDS)('controller lease on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  let migrationId: string;
  let source: string;

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 10);
    const manifest = articlesManifest({}, { rollout: { interval: '50ms' } });
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'ops', backfill: backfillPlanner };
    // A planned migration: every tick holds ("start it"), so ticks go on until stopped.
    migrationId = (await planMigration(ctx, 'small', 'big')).migration.id;
    source = sourceName(ctx.source);
  });
  afterEach(async () => {
    await db.close();
  });

  function controller(leaseMs?: number): Controller {
    return new Controller({ db, manifest: ctx.manifest, source: ctx.source, leaseMs });
  }

  it('lets one of two running controllers decide; the other stands by and records nothing', async () => {
    const a = controller();
    const b = controller();
    // Ticks are counted until the abort: the holder gives its lease up as it stops, and a
    // standby that takes over then, before it sees the abort itself, is right to.
    const seen = new Map<Controller, { ticks: number; afterAbort: number; standby: ControllerStandby[] }>([
      [a, { ticks: 0, afterAbort: 0, standby: [] }],
      [b, { ticks: 0, afterAbort: 0, standby: [] }],
    ]);
    const abort = new AbortController();
    const runs = [a, b].map((c) =>
      c.run({
        signal: abort.signal,
        onTick: () => (abort.signal.aborted ? seen.get(c)!.afterAbort++ : seen.get(c)!.ticks++),
        onStandby: (s) => seen.get(c)!.standby.push(s),
      }),
    );
    await sleep(800);
    abort.abort();
    await Promise.all(runs);
    const [winner, loser] = seen.get(a)!.ticks > 0 ? [a, b] : [b, a];
    expect(seen.get(winner)!.ticks).toBeGreaterThan(2);
    expect(seen.get(winner)!.standby).toEqual([]);
    expect(seen.get(loser)!.ticks).toBe(0);
    expect(seen.get(loser)!.standby.length).toBeGreaterThan(2);
    expect(seen.get(loser)!.standby[0]!.lease).toMatchObject({ holder: winner.identity.holder, pid: process.pid });
    expect(seen.get(loser)!.standby[0]!.message).toMatch(
      new RegExp(`^another controller drives the rollout of ${source} \\(host .*, pid ${process.pid}; lease until `),
    );
    // Only the decisions made are stored: the winner's until the abort, and any tick after it;
    // the lease was given up when the controllers stopped.
    const afterAbort = seen.get(winner)!.afterAbort + seen.get(loser)!.afterAbort;
    expect(await listTicks(db, migrationId)).toHaveLength(seen.get(winner)!.ticks + afterAbort);
    expect(await currentLease(db, source)).toBeNull();
  });

  it('takes over from a controller that stopped renewing, once its lease expires', async () => {
    await acquireLease(db, source, DEAD, 400);
    const c = controller();
    const standby = await c.tick().catch((e: unknown) => e);
    expect(standby).toBeInstanceOf(ControllerStandby);
    expect((standby as ControllerStandby).lease).toMatchObject({ holder: DEAD.holder, host: 'dead-host', pid: 1 });
    expect((standby as ControllerStandby).exitCode).toBe(0);
    expect(await listTicks(db, migrationId)).toHaveLength(0);
    expect(await currentLease(db, source)).toMatchObject({ holder: DEAD.holder, expired: false });
    await sleep(500);
    expect(await currentLease(db, source)).toMatchObject({ holder: DEAD.holder, expired: true });
    const report: TickReport = await c.tick();
    expect(report.tick).toMatchObject({ decision: 'hold', reason: expect.stringMatching(/planned/) });
    // A lone tick holds the lease only while it runs.
    expect(await currentLease(db, source)).toBeNull();
  });

  it('renews its own lease, and one running controller keeps it from a lone tick', async () => {
    const first = await acquireLease(db, source, DEAD, 60_000);
    const again = await acquireLease(db, source, DEAD, 60_000);
    expect(again.granted).toBe(true);
    expect(again.lease.acquiredAt).toBe(first.lease.acquiredAt);
    expect(Date.parse(again.lease.renewedAt)).toBeGreaterThanOrEqual(Date.parse(first.lease.renewedAt));
    const other = await acquireLease(db, source, { ...DEAD, holder: 'someone-else' }, 60_000);
    expect(other).toMatchObject({ granted: false, lease: { holder: DEAD.holder } });

    await db.query('DELETE FROM reembed.controller_leases');
    const running = controller();
    const abort = new AbortController();
    let ticks = 0;
    const run = running.run({ signal: abort.signal, onTick: () => ticks++ });
    while (ticks === 0) await sleep(10);
    await expect(controller().tick()).rejects.toBeInstanceOf(ControllerStandby);
    abort.abort();
    await run;
    expect((await controller().tick()).tick.decision).toBe('hold');
  });

  it('records nothing when its lease is taken over during a long tick, and promotes nothing', async () => {
    await prepareBackfill(db, ctx.source, getProfile(ctx.manifest, 'small'), ctx.manifest.profiles);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(ctx.manifest, 'small')] });
    const m = await startMigration(ctx, await getMigration(db, migrationId));
    const manifest = articlesManifest(
      {},
      { rollout: { interval: '50ms', gates: [{ name: 'ann', metric: 'ann.overlap', min: 0.9 }] } },
    );
    const c = new Controller({
      db,
      manifest,
      source: ctx.source,
      // While this controller measures, another one takes the lease over (this one looked dead).
      annOverlap: async () => {
        await db.query(`DELETE FROM ${CONTROLLER_LEASES_TABLE}`);
        await acquireLease(db, source, DEAD, 60_000);
        return { overlap: 1, details: {} };
      },
    });
    const lost = await c.tick().catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(ControllerStandby);
    expect((lost as ControllerStandby).lease).toMatchObject({ holder: DEAD.holder });
    expect(await getMigration(db, migrationId)).toMatchObject({ phase: 'backfilling', version: m.version });
    expect(await listTicks(db, migrationId)).toEqual([]);
    expect(await currentLease(db, source)).toMatchObject({ holder: DEAD.holder, expired: false });
  });

  it('runs one run() at a time per controller, keeps the lease through a lone tick of its own, and refuses a lease no longer than the interval', async () => {
    const c = controller();
    const abort = new AbortController();
    let ticks = 0;
    const run = c.run({ signal: abort.signal, onTick: () => ticks++ });
    while (ticks === 0) await sleep(10);
    await expect(c.run()).rejects.toMatchObject({ code: 'CONTROLLER_RUNNING' });
    const [x, y] = await Promise.all([c.tick(), c.tick()]);
    expect(Number(y.tick.id)).toBeGreaterThan(Number(x.tick.id));
    expect(await currentLease(db, source)).toMatchObject({ holder: c.identity.holder });
    abort.abort();
    await run;
    expect(await currentLease(db, source)).toBeNull();
    expect(() => controller(50)).toThrow(/lease \(50 ms\) must be longer than the interval \(50ms\)/);
  });

  it('says an ended migration once: a controller that comes after records no second stop', async () => {
    await rollbackMigration(ctx, await getMigration(db, migrationId), 'ops');
    const first = await controller().tick();
    const second = await controller().tick();
    expect(first).toMatchObject({ done: true, tick: { decision: 'stop' } });
    expect(second.tick).toEqual(first.tick);
    expect(await listTicks(db, migrationId)).toHaveLength(1);
  });
});
