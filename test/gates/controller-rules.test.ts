import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Manifest } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { Controller } from '../../src/gates/controller.js';
import { listMeasurements, listTicks } from '../../src/gates/tables.js';
import {
  planMigration,
  rampMigration,
  rollbackMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { getMigration, listEvents, type MigrationState } from '../../src/migration/state.js';
import { ServingMetricsRecorder } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { backfillPlanner } from '../../src/backfill/planner.js';

interface Hook {
  url: string;
  status: number;
  /** Runs before the answer: what a person does while the controller waits for the webhook. */
  before?: () => Promise<void>;
  received: Array<Record<string, unknown>>;
  close: () => Promise<void>;
}

async function webhookServer(): Promise<Hook> {
  const hook: { status: number; received: Array<Record<string, unknown>>; before?: () => Promise<void> } = {
    status: 200,
    received: [],
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hook.received.push(JSON.parse(body) as Record<string, unknown>);
      void (hook.before?.() ?? Promise.resolve()).then(() =>
        res.writeHead(hook.status).end(hook.status === 200 ? 'ok' : 'not now'),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(hook, {
    url: `http://127.0.0.1:${port}/hook`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

describe.each(BACKENDS)('controller rules on %s', (backend) => {
  let db: Database;
  let hook: Hook;
  let manifest: Manifest;
  let ctx: LifecycleContext;
  let m: MigrationState;

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    hook = await webhookServer();
    await createArticles(db, 60);
    manifest = articlesManifest(
      {},
      {
        rollout: {
          steps: [10, 50, 100],
          interval: '1s',
          step_min_duration: 0,
          step_min_requests: 0,
          webhooks: { before_promotion: hook.url, on_rollback: hook.url },
          gates: [
            { name: 'coverage', metric: 'coverage', min: 1 },
            // A long window: each step's traffic counts from the step's start (a new step re-measures).
            {
              name: 'errors',
              metric: 'online.error_rate',
              max: 0.1,
              interval: '30s',
              min_samples: 10,
              failure_limit: 1,
            },
          ],
        },
      },
    );
    const source = await articlesSource(db, manifest);
    ctx = { db, manifest, source, actor: 'ops', backfill: backfillPlanner };
    await prepareBackfill(db, source, getProfile(manifest, 'small'), manifest.profiles);
    await runBackfill(db, { source, profiles: [getProfile(manifest, 'small')] });
    m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
    await runBackfill(db, { source, profiles: [getProfile(manifest, 'big')] });
  });
  afterEach(async () => {
    await hook.close();
    await db.close();
  });

  function controller(): Controller {
    return new Controller({ db, manifest, source: ctx.source });
  }

  /**
   * Serving traffic as routers record it: under the migration state it was served in (a gate
   * counts only the current step's).
   */
  async function serve(profile: string, requests: number, errors: number): Promise<void> {
    const now = await getMigration(db, m.id);
    const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 100 });
    r.setMigration({ id: now.id, version: now.version });
    for (let i = 0; i < requests; i++)
      r.request(profile, i < errors ? { ok: false, fallback: true } : { ok: true, latencyMs: 2 });
    await r.close();
  }

  it('asks the before_promotion webhook: a refusal holds, an approval promotes', async () => {
    const c = controller();
    expect((await c.tick()).tick.decision).toBe('promote'); // backfilling → shadow
    hook.status = 503;
    const held = await c.tick();
    expect(held.tick.decision).toBe('hold');
    expect(held.tick.reason).toBe('the before_promotion webhook did not approve the move to 10%: HTTP 503: not now');
    expect((await getMigration(db, m.id)).phase).toBe('shadow');
    hook.status = 200;
    const promoted = await c.tick();
    expect(promoted.tick.decision).toBe('promote');
    expect(promoted.migration).toMatchObject({ phase: 'canary', percent: 10 });
    const asked = hook.received.filter((x) => x.event === 'before_promotion');
    expect(asked.map((x) => (x.to as { percent: number }).percent)).toEqual([0, 10, 10]);
  });

  it('loses a race with a person: a promotion from a state that changed meanwhile is not made', async () => {
    const c = controller();
    await c.tick(); // → shadow
    // While the controller waits for the webhook, a person ramps to 30% by hand.
    hook.before = async () => {
      hook.before = undefined;
      await rampMigration(ctx, await getMigration(db, m.id), 30);
    };
    const raced = await c.tick();
    expect(raced.tick.decision).toBe('hold');
    expect(raced.tick.reason).toMatch(/^promotion to 10% not made: migration .* was changed by someone else/);
    expect(await getMigration(db, m.id)).toMatchObject({ phase: 'canary', percent: 30 });
    const ramps = (await listEvents(db, m.id)).filter((e) => e.action === 'ramp');
    expect(ramps.map((e) => `${e.actor}:${e.toPercent}`)).toEqual(['ops:30']);
  });

  it('with watchCutover, keeps watching at 100% and rolls back a candidate that degrades there', async () => {
    const c = new Controller({ db, manifest, source: ctx.source, watchCutover: true });
    await c.tick(); // → shadow
    await c.tick(); // → 10%
    await serve('big', 20, 0);
    await serve('small', 20, 0);
    await c.tick(); // → 50%
    await serve('big', 20, 0);
    await serve('small', 20, 0);
    expect((await c.tick()).migration.phase).toBe('cutover');
    const watching = await c.tick();
    expect(watching).toMatchObject({ done: false, tick: { decision: 'hold', phase: 'cutover' } });
    expect(watching.tick.reason).toMatch(/^cutover: watching the candidate until `reembed migrate finalize`/);
    await serve('big', 20, 6); // 30% errors at 100%, no control traffic to compare with
    const rolled = await c.tick();
    expect(rolled.tick).toMatchObject({ decision: 'rollback', phase: 'cutover' });
    expect(rolled.tick.reason).toMatch(/^gate errors failed 1 times .*online\.error_rate 0\.3 > 0\.1/);
    expect(rolled.migration.phase).toBe('rolled_back');
  });

  it('keeps running through a failed evaluation, and a restarted controller does not judge the same traffic twice', async () => {
    let fail = true;
    const flaky = new Controller({
      db,
      manifest,
      source: ctx.source,
      now: () => {
        if (fail) {
          fail = false;
          throw new Error('connection reset');
        }
        return new Date();
      },
    });
    const errors: string[] = [];
    const reports: string[] = [];
    const abort = new AbortController();
    const last = await flaky.run({
      signal: abort.signal,
      onError: (e) => errors.push((e as Error).message),
      onTick: (t) => {
        reports.push(t.tick.decision);
        if (t.migration.phase === 'canary') abort.abort();
      },
    });
    expect(errors).toEqual(['connection reset']);
    expect(reports).toEqual(['promote', 'promote']);
    expect(last!.migration).toMatchObject({ phase: 'canary', percent: 10 });

    await serve('big', 20, 0);
    await serve('small', 20, 0);
    await controller().tick(); // measures the 30 s errors gate of this step: a pass, then promotes
    expect((await getMigration(db, m.id)).percent).toBe(50);
    await serve('big', 20, 0);
    await serve('small', 20, 0);
    hook.status = 503; // hold at 50%: the next ticks stay in this step
    expect((await controller().tick()).tick.decision).toBe('hold'); // a new step: measured again
    const before = (await listMeasurements(db, m.id)).filter((x) => x.gate === 'errors').length;
    const again = await controller().tick(); // a new process, same step, within the gate's interval
    expect(again.tick).toMatchObject({ decision: 'hold', phase: 'canary', percent: 50 });
    expect(again.gates.find((g) => g.gate === 'errors')!.verdict).toBe('pass');
    const after = (await listMeasurements(db, m.id)).filter((x) => x.gate === 'errors').length;
    expect(before).toBe(2);
    expect(after).toBe(2);
  });

  it('lets a person’s ramp win and continues from there; a person’s rollback stops it', async () => {
    const c = controller();
    await c.tick(); // → shadow
    await c.tick(); // → canary 10%
    m = await getMigration(db, m.id);
    // A person ramps to 60% by hand: the controller's next step is the first one above it.
    m = await rampMigration(ctx, m, 60);
    await serve('big', 20, 0);
    await serve('small', 20, 0);
    const next = await c.tick();
    expect(next.tick).toMatchObject({ decision: 'promote', percent: 60 });
    expect(next.migration.phase).toBe('cutover');
    // Back to the person: a rollback, and the controller has nothing left to do.
    await rollbackMigration(ctx, next.migration, 'ops: customer complaint');
    const after = await c.tick();
    expect(after).toMatchObject({ done: true, tick: { decision: 'stop' } });
    const actors = (await listEvents(db, m.id)).map((e) => `${e.actor}:${e.action}:${e.toPercent}`);
    expect(actors.slice(2)).toEqual([
      'controller:shadow:0',
      'controller:ramp:10',
      'ops:ramp:60',
      'controller:cutover:100',
      'ops:rollback:0',
    ]);
  });

  it('rolls back at the failure limit and tells the on_rollback webhook', async () => {
    const c = controller();
    await c.tick();
    await c.tick(); // canary 10%
    await rampMigration(ctx, await getMigration(db, m.id), 20); // a person's step in between
    await serve('big', 20, 0);
    await serve('small', 20, 0);
    const promoted = await c.tick();
    expect(promoted.tick).toMatchObject({ decision: 'promote', percent: 20 });
    expect(promoted.migration.percent).toBe(50);

    await serve('big', 20, 5); // 25% errors
    await serve('small', 20, 0);
    const rolled = await c.tick();
    expect(rolled.tick.decision).toBe('rollback');
    expect(rolled.tick.reason).toMatch(
      /^gate errors failed 1 times \(failure limit 1\): online\.error_rate 0\.25 > 0\.1/,
    );
    expect(rolled.migration.phase).toBe('rolled_back');
    const told = hook.received.find((x) => x.event === 'rollback');
    expect(told).toMatchObject({ reason: rolled.tick.reason, migration: { phase: 'rolled_back' } });
    const ticks = await listTicks(db, m.id);
    expect(ticks.at(-1)).toMatchObject({ decision: 'rollback', phase: 'canary', percent: 50 });
    expect((await c.tick()).done).toBe(true);
  });
});
