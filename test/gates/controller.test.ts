import { afterEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { injectFaults, type InjectedFaults } from '../../src/demo/fault-injection.js';
import { Controller, type TickReport } from '../../src/gates/controller.js';
import { listMeasurements, listTicks } from '../../src/gates/tables.js';
import { planMigration, startMigration, type LifecycleContext } from '../../src/migration/lifecycle.js';
import { getMigration, listEvents } from '../../src/migration/state.js';
import { seededRandom } from '../../src/random.js';
import { Router } from '../../src/router/router.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { openTestDatabase, type Backend } from '../helpers/databases.js';
import { backfillPlanner } from '../../src/backfill/planner.js';

const INTERVAL_MS = 400;
/** The online gates' interval; drive() ticks by traffic (windowsByTick), so it paces nothing. */
const ONLINE_WINDOW = '1200ms';

/** The gates of these tests: the runbook's kinds, with sample sizes this synthetic traffic reaches. */
function rollout(overrides: Record<string, unknown> = {}, errorSamples = 100) {
  return {
    interval: `${INTERVAL_MS}ms`,
    step_min_duration: `${INTERVAL_MS}ms`,
    step_min_requests: 20,
    shadow_sample: 0,
    gates: [
      { name: 'coverage', metric: 'coverage', min: 1 },
      { name: 'verify', metric: 'verify.failed_checks', max: 0 },
      {
        name: 'error-rate',
        metric: 'online.error_rate',
        max_increase: 0.002,
        interval: ONLINE_WINDOW,
        min_samples: errorSamples,
        failure_limit: 3,
        consecutive_limit: 2,
      },
      {
        name: 'latency-p95',
        metric: 'online.latency_p95_ms',
        // Generous for two hash profiles on a loaded 2-core machine; a slow candidate is 10x off.
        max_ratio: 3,
        interval: ONLINE_WINDOW,
        // Enough that the candidate's p95 is not just its one or two slowest searches.
        min_samples: 50,
        failure_limit: 3,
        consecutive_limit: 2,
      },
    ],
    ...overrides,
  };
}

async function setUp(
  backend: Backend,
  faults: Record<string, InjectedFaults>,
  overrides: Record<string, unknown> = {},
  errorSamples?: number,
) {
  const db = await openTestDatabase(backend);
  await createArticles(db, 300);
  const manifest = articlesManifest({}, { rollout: rollout(overrides, errorSamples) });
  const source = await articlesSource(db, manifest);
  const ctx: LifecycleContext = { db, manifest, source, actor: 'test', backfill: backfillPlanner };
  const small = getProfile(manifest, 'small');
  await prepareBackfill(db, source, small, manifest.profiles);
  await runBackfill(db, { source, profiles: [small] });
  const m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
  await runBackfill(db, { source, profiles: [getProfile(manifest, 'big')] });
  const router = await new Router(db, manifest, source, {
    defaultProfile: 'small',
    metrics: { windowMs: 100, instance: 'test' },
    embedderOptions: { provider: injectFaults(faults, seededRandom(5)) },
    hotDocuments: false,
  }).start();
  return { db, manifest, source, router, migrationId: m.id };
}

/**
 * One round of traffic from many subjects, 4 at a time: in a canary step, until the candidate and
 * the control have each been chosen for `samples` searches; then the router's counts are written.
 */
let searches = 0;

async function round(router: Router, samples: number): Promise<void> {
  const m = router.migration();
  if (m?.phase !== 'canary') return;
  const words = ['alpha', 'beta', 'gamma', 'delta', 'article', 'body', 'title'];
  const chosen = { candidate: 0, control: 0 };
  const enough = () => chosen.candidate >= samples && chosen.control >= samples;
  await Promise.all(
    Array.from({ length: 4 }, async (_, loop) => {
      for (let i = 0; !enough(); i++) {
        // Distinct queries, as live traffic has: a repeated one would be answered from the query
        // cache without reaching the (faulty) provider.
        const query = `${words[i % words.length]} ${words[(i * 3 + loop) % words.length]} ${++searches}`;
        const res = await router.search(query, {
          subject: `user-${m.version}-${loop}-${i}`,
          k: 5,
        });
        // A fallback was the candidate's search, answered by the control.
        if (res.profile === m.candidate || res.fallback) chosen.candidate++;
        else chosen.control++;
      }
    }),
  );
  await router.metrics!.flush();
}

/**
 * Drives the controller by traffic (windowsByTick): a round of searches, one tick, until it is
 * done. Every round gives the online gates a full window, so a loaded machine reaches the same
 * verdicts, only later; the bound is a number of ticks, not a clock.
 */
async function drive(env: Awaited<ReturnType<typeof setUp>>): Promise<TickReport[]> {
  const rollout = env.manifest.rollout;
  const samples = Math.max(rollout.stepMinRequests, ...rollout.gates.map((g) => g.min_samples));
  const ticks: TickReport[] = [];
  try {
    const controller = new Controller({ db: env.db, manifest: env.manifest, source: env.source, windowsByTick: true });
    for (let i = 0; i < 40; i++) {
      await env.router.refresh();
      await round(env.router, samples);
      const t = await controller.tick();
      ticks.push(t);
      if (t.done) break;
      // A hold for the step's minimum duration is waited out; on a fast machine forty rounds
      // (and shadow has none) pass before it.
      if (t.tick.decision === 'hold' && /minimum/.test(t.tick.reason))
        await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
    }
  } finally {
    await env.router.close();
  }
  return ticks;
}

describe('controller end to end on postgres', () => {
  let env: Awaited<ReturnType<typeof setUp>> | undefined;
  afterEach(async () => {
    await env?.db.close();
    env = undefined;
  });

  it('promotes a healthy candidate through every step, on measurements it stores', async () => {
    // At 5% the candidate sees few requests per interval: a smaller sample suffices when nothing fails.
    env = await setUp('postgres', {}, {}, 20);
    const ticks = await drive(env);
    const m = await getMigration(env.db, env.migrationId);
    expect(m.phase).toBe('cutover');
    const events = await listEvents(env.db, m.id);
    const byController = events.filter((e) => e.actor === 'controller');
    expect(byController.map((e) => [e.action, e.toPercent])).toEqual([
      ['shadow', 0],
      ['ramp', 5],
      ['ramp', 25],
      ['ramp', 50],
      ['cutover', 100],
    ]);
    for (const e of byController.slice(1)) expect(e.reason).toMatch(/^controller: every gate passed/);
    expect(ticks.at(-1)!.tick.decision).toBe('complete');
    // Each promotion in canary was decided on online measurements with traffic behind them.
    const stored = await listTicks(env.db, m.id);
    const promotions = stored.filter((t) => t.decision === 'promote');
    expect(promotions).toHaveLength(5);
    for (const t of promotions.filter((t) => t.phase === 'canary')) {
      const gates = (t.details.gates as Array<{ gate: string; verdict: string; candidate: number }>) ?? [];
      expect(gates.map((g) => g.gate).sort()).toEqual(['coverage', 'error-rate', 'latency-p95', 'verify']);
      expect(gates.every((g) => g.verdict === 'pass')).toBe(true);
    }
    const measured = await listMeasurements(env.db, m.id);
    expect(measured.filter((x) => x.gate === 'error-rate' && x.verdict === 'pass').length).toBeGreaterThanOrEqual(3);
    expect(measured.every((x) => x.condition.length > 0 && x.reason.length > 0)).toBe(true);
  });

  it('rolls a candidate with 5% errors back within failure-limit intervals, naming the gate', async () => {
    env = await setUp('postgres', { big: { errorRate: 0.05 } }, { steps: [50, 100] });
    const ticks = await drive(env);
    const m = await getMigration(env.db, env.migrationId);
    expect(m.phase).toBe('rolled_back');
    const last = ticks.at(-1)!;
    expect(last.tick.decision).toBe('rollback');
    expect(last.tick.reason).toMatch(/^gate error-rate failed/);
    const rollback = (await listEvents(env.db, m.id)).at(-1)!;
    expect(rollback).toMatchObject({ action: 'rollback', actor: 'controller', toPhase: 'rolled_back' });
    expect(rollback.reason).toMatch(
      /^controller: gate error-rate failed .*online\.error_rate 0\.0\d+ > control 0 \+ 0\.002/,
    );
    // Every tick measures a full round: the canary lasted at most failure_limit (3) measurements of the gate.
    const canaryErrorChecks = (await listMeasurements(env.db, m.id)).filter(
      (x) => x.gate === 'error-rate' && x.verdict !== 'no_data',
    );
    expect(canaryErrorChecks.length).toBeGreaterThanOrEqual(2);
    expect(canaryErrorChecks.length).toBeLessThanOrEqual(3);
    expect(canaryErrorChecks.at(-1)!.verdict).toBe('fail');
  });

  it('rolls a slow candidate back by the latency gate', async () => {
    // 150 ms: far beyond what a loaded machine adds to the control's p95 (the gate allows 3x).
    env = await setUp('postgres', { big: { extraLatencyMs: 150 } }, { steps: [50, 100] });
    const ticks = await drive(env);
    const m = await getMigration(env.db, env.migrationId);
    expect(m.phase).toBe('rolled_back');
    expect(ticks.at(-1)!.tick.reason).toMatch(/^gate latency-p95 failed/);
    const failing = (await listMeasurements(env.db, m.id)).filter(
      (x) => x.gate === 'latency-p95' && x.verdict === 'fail',
    );
    expect(failing.length).toBeGreaterThanOrEqual(2);
    for (const f of failing) expect(f.candidate!).toBeGreaterThan(3 * f.control!);
  });
});
