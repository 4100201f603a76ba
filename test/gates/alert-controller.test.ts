import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { backfillPlanner } from '../../src/backfill/planner.js';
import type { Manifest } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { listAlertEvents } from '../../src/gates/alert-tables.js';
import { evaluateAlerts } from '../../src/gates/alerts.js';
import { Controller } from '../../src/gates/controller.js';
import {
  cutoverMigration,
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { getMigration, listEvents, type MigrationState } from '../../src/migration/state.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { appendEvaluation, servingWindow, webhookReceiver } from './alert-helpers.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-03-02T12:00:00Z');

describe.each(BACKENDS)('alerts in the controller on %s', (backend) => {
  let db: Database;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  let dir: string;
  let time = T0;

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 40);
    receiver = await webhookReceiver();
    dir = mkdtempSync(join(tmpdir(), 'reembed-alert-controller-'));
    time = T0;
  });
  afterEach(async () => {
    await receiver.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A started migration small → big, the candidate backfilled unless `backfill` is false. */
  async function setUp(rollout: Record<string, unknown>, alerts: Record<string, unknown>, backfill = true) {
    const manifest: Manifest = articlesManifest(
      {},
      {
        rollout: { interval: '1s', eval_history: join(dir, 'history.jsonl'), ...rollout },
        alerts: { webhooks: [{ url: receiver.url('/hook') }], ...alerts },
      },
    );
    const source = await articlesSource(db, manifest);
    const ctx: LifecycleContext = { db, manifest, source, actor: 'test', backfill: backfillPlanner };
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles);
    await runBackfill(db, { source, profiles: [small] });
    const m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
    if (backfill) await runBackfill(db, { source, profiles: [getProfile(manifest, 'big')] });
    const controller = (watchCutover = false) =>
      new Controller({ db, manifest, source, now: () => new Date(time), watchCutover, actor: 'controller' });
    return { manifest, source, ctx, m, controller };
  }

  const slowCandidate = (at: number) => servingWindow(db, 'big', new Date(at - 1000), { requests: 50, latencyMs: 80 });
  const p95 = (extra: Record<string, unknown>) => ({
    metric: 'online.latency_p95_ms',
    op: '>',
    threshold: 20,
    window: '5m',
    ...extra,
  });
  // Holds the rollout where it is, so only an alert can end it.
  const holding = [{ name: 'never', metric: 'ann.overlap', min: 2 }];

  it('a critical rollback: true rule rolls the migration back once it has fired (after for:), naming the alert', async () => {
    const s = await setUp(
      { gates: holding },
      { rules: [p95({ name: 'p95-critical', for: '2m', severity: 'critical', rollback: true })] },
    );
    const c = s.controller();
    await slowCandidate(time);
    let report = await c.tick();
    expect(report.alerts!.rules[0]).toMatchObject({ phase: 'pending', breach: true });
    expect(report.tick.decision).toBe('hold');
    time += MINUTE;
    await slowCandidate(time);
    report = await c.tick();
    expect(report.tick.decision).toBe('hold');
    time += MINUTE;
    await slowCandidate(time);
    report = await c.tick();
    expect(report.tick.decision).toBe('rollback');
    expect(report.tick.reason).toMatch(/^alert p95-critical \(critical\) firing: online.latency_p95_ms of big \d/);
    expect(report.migration.phase).toBe('rolled_back');
    const events = await listEvents(db, s.m.id);
    expect(events.at(-1)).toMatchObject({ action: 'rollback', actor: 'controller' });
    expect(events.at(-1)!.reason).toContain('controller: alert p95-critical (critical) firing');
    expect(receiver.received.map((r) => [r.body.rule, r.body.transition, r.body.migration])).toEqual([
      ['p95-critical', 'firing', s.m.id],
    ]);
  });

  it('a warning rule, and a critical one without rollback: true, notify but never roll back', async () => {
    const s = await setUp(
      { gates: holding },
      {
        rules: [
          p95({ name: 'p95-warning', severity: 'warning' }),
          p95({ name: 'p95-critical-tell', severity: 'critical' }),
        ],
      },
    );
    const c = s.controller();
    for (let i = 0; i < 4; i++) {
      await slowCandidate(time);
      const report = await c.tick();
      expect(report.tick.decision).toBe('hold');
      expect(report.alerts!.rules.map((r) => r.phase)).toEqual(['firing', 'firing']);
      expect(report.alerts!.rollback).toBeNull();
      time += MINUTE;
    }
    expect((await getMigration(db, s.m.id)).phase).toBe('backfilling');
    expect(receiver.received.map((r) => r.body.rule).sort()).toEqual(['p95-critical-tell', 'p95-warning']);
  });

  it('no data never rolls back: neither a pending rule whose traffic stops nor a firing one', async () => {
    const rule = p95({ name: 'p95-critical', severity: 'critical', rollback: true, for: '2m' });
    const s = await setUp({ gates: holding }, { rules: [rule] });
    const c = s.controller();
    await slowCandidate(time);
    await c.tick();
    // The traffic stops before for: has passed: pending goes back to inactive, nothing fires.
    time += 10 * MINUTE;
    let report = await c.tick();
    expect(report.alerts!.rules[0]).toMatchObject({ breach: null, phase: 'inactive' });
    expect(report.tick.decision).toBe('hold');

    // `reembed watch` (which never rolls back) sees it fire; then the traffic stops again.
    for (const step of [0, 2 * MINUTE]) {
      await slowCandidate(time + step);
      const watched = await evaluateAlerts({
        db,
        manifest: s.manifest,
        source: s.source,
        migration: await getMigration(db, s.m.id),
        activeProfile: 'small',
        evaluator: 'watch',
        now: new Date(time + step),
      });
      expect(watched.rules[0]!.phase).toBe(step ? 'firing' : 'pending');
    }
    time += 20 * MINUTE;
    report = await c.tick();
    // Still firing (nothing says it resolved), but nothing was seen to breach now: no rollback.
    expect(report.alerts!.rules[0]).toMatchObject({ breach: null, phase: 'firing' });
    expect(report.tick.decision).toBe('hold');
    expect((await getMigration(db, s.m.id)).phase).toBe('backfilling');
    // Slow again: firing and breaching now, and the controller rolls back.
    await slowCandidate(time);
    time += 1000;
    report = await c.tick();
    expect(report.tick.decision).toBe('rollback');
    expect(
      receiver.received.map((r) => [r.body.transition, (r.body.details as { evaluator: string }).evaluator]),
    ).toEqual([['firing', 'watch']]);
  });

  it('a gate with notify_on: [fail] tells when it fails and when it passes again', async () => {
    const s = await setUp(
      { gates: [{ name: 'coverage', metric: 'coverage', min: 1, notify_on: ['fail'] }], step_min_duration: '1h' },
      {},
      false,
    );
    const c = s.controller();
    let report = await c.tick();
    expect(report.tick.decision).toBe('hold');
    expect(report.alerts!.rules[0]).toMatchObject({ rule: 'gate:coverage', phase: 'firing', transition: 'firing' });
    time += 2000;
    await c.tick();
    // One notification while it keeps failing.
    expect(receiver.received.map((r) => r.body.transition)).toEqual(['firing']);
    expect(receiver.received[0]!.body.summary).toMatch(/^gate coverage FAIL: coverage 0/);
    await runBackfill(db, { source: s.source, profiles: [getProfile(s.manifest, 'big')] });
    time += 2000;
    report = await c.tick();
    expect(report.tick.decision).toBe('promote');
    expect(receiver.received.map((r) => r.body.transition)).toEqual(['firing', 'resolved']);
  });

  it('a gate without notify_on tells nobody', async () => {
    const s = await setUp({ gates: [{ name: 'coverage', metric: 'coverage', min: 1 }] }, {}, false);
    const report = await s.controller().tick();
    expect(report.tick.decision).toBe('hold');
    expect(report.alerts).toBeUndefined();
    expect(await listAlertEvents(db)).toEqual([]);
  });

  it('after cutover, --watch-cutover rolls back on a nightly evaluation that regressed recall@5 by more than 10 pp', async () => {
    const s = await setUp(
      { gates: [{ name: 'offline-r5', metric: 'offline.recall@5', max_decrease: 0.1, failure_limit: 1 }] },
      {},
    );
    const small = getProfile(s.manifest, 'small');
    const big = getProfile(s.manifest, 'big');
    const file = join(dir, 'history.jsonl');
    appendEvaluation(file, new Date(time - 60 * MINUTE), [
      [small, 0.8],
      [big, 0.82],
    ]);
    let m: MigrationState = await shadowMigration(s.ctx, s.m, 0);
    m = await rampMigration(s.ctx, m, 50);
    m = await cutoverMigration(s.ctx, m);
    expect(m.phase).toBe('cutover');
    const c = s.controller(true);
    let report = await c.tick();
    expect(report.tick.decision).toBe('hold');
    expect(report.gates.map((g) => [g.gate, g.verdict])).toEqual([['offline-r5', 'pass']]);
    // The nightly run: the candidate 15 pp under the control.
    appendEvaluation(file, new Date(time), [
      [small, 0.8],
      [big, 0.65],
    ]);
    time += 2000;
    report = await c.tick();
    expect(report.tick.decision).toBe('rollback');
    expect(report.tick.reason).toContain('gate offline-r5 failed 1 times');
    expect(report.migration.phase).toBe('rolled_back');
  });

  it('after cutover without --watch-cutover, the controller is done and reads nothing', async () => {
    const s = await setUp(
      { gates: [{ name: 'offline-r5', metric: 'offline.recall@5', max_decrease: 0.1, failure_limit: 1 }] },
      {},
    );
    appendEvaluation(join(dir, 'history.jsonl'), new Date(time), [
      [getProfile(s.manifest, 'small'), 0.8],
      [getProfile(s.manifest, 'big'), 0.2],
    ]);
    let m: MigrationState = await shadowMigration(s.ctx, s.m, 0);
    m = await cutoverMigration(s.ctx, await rampMigration(s.ctx, m, 50));
    const report = await s.controller(false).tick();
    expect(report.tick.decision).toBe('complete');
    expect((await getMigration(db, m.id)).phase).toBe('cutover');
  });
});
