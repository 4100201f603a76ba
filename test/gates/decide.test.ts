/**
 * The controller's rules without a database: decide() is a pure function of the migration
 * state, the gate results and verdict history, the step's age and traffic, and the rollout.
 * The controller tests (controller*.test.ts, cli/controller.test.ts) drive the same rules end
 * to end on both databases.
 */
import { NO_TARGETING } from '../../src/migration/targeting.js';
import { describe, expect, it } from 'vitest';
import { parseRollout, type Gate, type RolloutConfig } from '../../src/config/rollout.js';
import {
  applicableGates,
  countsRequests,
  decide,
  decideUnmeasured,
  nextPromotion,
  type Measurements,
} from '../../src/gates/decide.js';
import type { GateResult, Verdict } from '../../src/gates/evaluate.js';
import type { Phase } from '../../src/migration/phases.js';
import type { MigrationState } from '../../src/migration/state.js';

const MINUTE = 60_000;

function rollout(raw: Record<string, unknown> = {}): RolloutConfig {
  const problems: string[] = [];
  const r = parseRollout(
    {
      steps: [5, 50, 100],
      step_min_duration: '10m',
      step_min_requests: 100,
      gates: [
        { name: 'coverage', metric: 'coverage', min: 1 },
        { name: 'offline-recall5', metric: 'offline.recall@5', max_decrease: 0.02 },
        { name: 'shadow-overlap', metric: 'shadow.overlap', min: 0.5 },
        { name: 'error-rate', metric: 'online.error_rate', max: 0.01, failure_limit: 3, consecutive_limit: 2 },
        { name: 'ann-agreement', metric: 'ann.overlap', min: 0.95 },
      ],
      ...raw,
    },
    problems,
  );
  expect(problems).toEqual([]);
  return r!;
}

function migration(phase: Phase, percent = 0, extra: Partial<MigrationState> = {}): MigrationState {
  return {
    id: 'mig_1',
    source: 'docs',
    control: 'base',
    candidate: 'next',
    phase,
    percent,
    shadowSample: phase === 'backfilling' || phase === 'planned' ? 0 : 0.1,
    version: 3,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    cutoverAt: null,
    finalizedAt: null,
    targeting: NO_TARGETING,
    ...extra,
  };
}

function result(gate: Gate, verdict: Verdict, reason = `${gate.metric} ${verdict}`): GateResult {
  return { gate: gate.name, metric: gate.metric, verdict, candidate: null, control: null, condition: '', reason };
}

/** Every applicable gate measured now with `verdicts[gate]` (default pass), in an old, busy step. */
function measured(
  m: MigrationState,
  r: RolloutConfig,
  verdicts: Record<string, Verdict | [Verdict, string]> = {},
  extra: Partial<Measurements> = {},
): Measurements {
  const gates = applicableGates(m, r, { candidateDims: 768 });
  const fresh = gates.map((g) => {
    const v = verdicts[g.name] ?? 'pass';
    return Array.isArray(v) ? result(g, v[0], v[1]) : result(g, v);
  });
  return {
    gates,
    fresh,
    current: fresh,
    history: new Map(),
    stepAgeMs: 60 * MINUTE,
    candidateRequests: 1000,
    ...extra,
  };
}

describe('which gates apply', () => {
  const r = rollout();
  const names = (m: MigrationState, dims = 768, imageInput = false) =>
    applicableGates(m, r, { candidateDims: dims, imageInput }).map((g) => g.name);

  it('while backfilling, the store checks only', () => {
    expect(names(migration('backfilling'))).toEqual(['coverage', 'ann-agreement']);
  });
  it('in shadow, everything but the online gates (shadow gates while sampling)', () => {
    expect(names(migration('shadow'))).toEqual(['coverage', 'offline-recall5', 'shadow-overlap', 'ann-agreement']);
    expect(names(migration('shadow', 0, { shadowSample: 0 }))).toEqual([
      'coverage',
      'offline-recall5',
      'ann-agreement',
    ]);
  });
  it('in canary, every gate; at cutover, the online and offline gates only', () => {
    expect(names(migration('canary', 5))).toHaveLength(5);
    expect(names(migration('cutover', 100))).toEqual(['offline-recall5', 'error-rate']);
  });
  it('no ANN agreement for a profile too wide for an index', () => {
    expect(names(migration('canary', 5), 4096)).not.toContain('ann-agreement');
  });
  it('no offline gate when a profile has an image input (a text dataset would judge half of it)', () => {
    expect(names(migration('shadow'), 768, true)).toEqual(['coverage', 'shadow-overlap', 'ann-agreement']);
    expect(names(migration('cutover', 100), 768, true)).toEqual(['error-rate']);
    expect(names(migration('shadow'), 768, false)).toContain('offline-recall5');
  });
});

describe('the next promotion', () => {
  const r = rollout();
  it('backfilling → shadow → the first step → each step → cutover at 100', () => {
    expect(nextPromotion(migration('backfilling'), r)).toEqual({ action: 'shadow', percent: 0 });
    expect(nextPromotion(migration('shadow'), r)).toEqual({ action: 'ramp', percent: 5 });
    expect(nextPromotion(migration('canary', 5), r)).toEqual({ action: 'ramp', percent: 50 });
    expect(nextPromotion(migration('canary', 50), r)).toEqual({ action: 'cutover', percent: 100 });
    // A person ramped past the last step below 100:
    expect(nextPromotion(migration('canary', 70), r)).toEqual({ action: 'cutover', percent: 100 });
    expect(nextPromotion(migration('cutover', 100), r)).toBeNull();
  });
});

describe('decide', () => {
  const r = rollout();

  describe('promote', () => {
    it('when every gate passed in an old, busy step, naming the gates and the target', () => {
      const m = migration('canary', 5);
      expect(decide({ migration: m }, measured(m, r), r)).toEqual({
        decision: 'promote',
        reason:
          'controller: every gate passed (coverage, offline-recall5, shadow-overlap, error-rate, ann-agreement); promoting to 50%',
        next: { action: 'ramp', percent: 50 },
      });
    });
    it('from backfilling to shadow at once: no dwell before shadow', () => {
      const m = migration('backfilling');
      const d = decide({ migration: m }, measured(m, r, {}, { stepAgeMs: 0, candidateRequests: 0 }), r);
      expect(d).toMatchObject({ decision: 'promote', next: { action: 'shadow', percent: 0 } });
      expect(d.reason).toBe('controller: every gate passed (coverage, ann-agreement); promoting to shadow');
    });
    it('from the last step to cutover, with no gates at all', () => {
      const none = rollout({ gates: [] });
      const m = migration('canary', 50);
      expect(decide({ migration: m }, measured(m, none), none)).toEqual({
        decision: 'promote',
        reason: 'controller: every gate passed (none applied); promoting to 100%',
        next: { action: 'cutover', percent: 100 },
      });
    });
    it('from shadow without counting requests (the candidate serves none there)', () => {
      const m = migration('shadow');
      expect(countsRequests(m, r)).toBe(false);
      const d = decide({ migration: m }, measured(m, r, {}, { candidateRequests: undefined }), r);
      expect(d).toMatchObject({ decision: 'promote', next: { action: 'ramp', percent: 5 } });
    });
  });

  describe('hold', () => {
    const m = migration('canary', 5);

    it('while a gate fails (below its limits), with its reason', () => {
      const d = decide({ migration: m }, measured(m, r, { coverage: ['fail', 'coverage 0.98 < 1'] }), r);
      expect(d).toEqual({ decision: 'hold', reason: 'coverage: FAIL coverage 0.98 < 1' });
    });
    it('while a gate has no data, with every holding gate named in order', () => {
      const x = measured(m, r, {
        'error-rate': ['no_data', 'no data for the candidate (3 of 20 requests); holding'],
        'ann-agreement': ['fail', 'ann.overlap 0.9 < 0.95'],
      });
      expect(decide({ migration: m }, x, r)).toEqual({
        decision: 'hold',
        reason:
          'error-rate: no data for the candidate (3 of 20 requests); holding; ann-agreement: FAIL ann.overlap 0.9 < 0.95',
      });
    });
    it('on a gate measured in an earlier tick that did not pass (current, not fresh)', () => {
      const x = measured(m, r);
      const cov = x.gates.find((g) => g.name === 'coverage')!;
      const current = x.current.map((c) => (c.gate === 'coverage' ? result(cov, 'fail', 'coverage 0.5 < 1') : c));
      const d = decide({ migration: m }, { ...x, fresh: x.fresh.filter((f) => f.gate !== 'coverage'), current }, r);
      expect(d).toEqual({ decision: 'hold', reason: 'coverage: FAIL coverage 0.5 < 1' });
    });
    it('while the step is younger than its minimum', () => {
      expect(decide({ migration: m }, measured(m, r, {}, { stepAgeMs: 4 * MINUTE }), r)).toEqual({
        decision: 'hold',
        reason: 'step 5%: 4m of the minimum 10m',
      });
      const s = migration('shadow');
      expect(decide({ migration: s }, measured(s, r, {}, { stepAgeMs: 30_000 }), r)).toEqual({
        decision: 'hold',
        reason: 'shadow: 30s of the minimum 10m',
      });
    });
    it('while the candidate served fewer requests than the minimum in the step', () => {
      expect(countsRequests(m, r)).toBe(true);
      expect(decide({ migration: m }, measured(m, r, {}, { candidateRequests: 42 }), r)).toEqual({
        decision: 'hold',
        reason: 'step 5%: the candidate served 42 of the minimum 100 requests',
      });
      // Not counted is none: the rollout holds rather than promotes on a missing count.
      expect(decide({ migration: m }, measured(m, r, {}, { candidateRequests: undefined }), r).reason).toBe(
        'step 5%: the candidate served 0 of the minimum 100 requests',
      );
    });
    it('on gates before dwell: a failing gate is the reason even in a young step', () => {
      const d = decide(
        { migration: m },
        measured(m, r, { coverage: 'fail' }, { stepAgeMs: 0, candidateRequests: 0 }),
        r,
      );
      expect(d.reason).toBe('coverage: FAIL coverage fail');
    });
    it('with no minimum requests configured, a quiet step promotes', () => {
      const quiet = rollout({ step_min_requests: 0 });
      expect(countsRequests(m, quiet)).toBe(false);
      expect(decide({ migration: m }, measured(m, quiet, {}, { candidateRequests: 0 }), quiet).decision).toBe(
        'promote',
      );
    });
    it('while planned, without measuring', () => {
      const p = migration('planned');
      expect(decideUnmeasured({ migration: p })).toEqual({
        decision: 'hold',
        reason: 'the migration is planned: start it (reembed migrate start)',
      });
      expect(decide({ migration: p }, measured(p, r), r)).toEqual(decideUnmeasured({ migration: p }));
    });
  });

  describe('rollback', () => {
    const m = migration('canary', 50);

    it('when a gate reaches its failure limit over the migration', () => {
      const x = measured(
        m,
        r,
        { 'error-rate': ['fail', 'online.error_rate 0.05 > 0.01'] },
        { history: new Map([['error-rate', ['fail', 'pass', 'fail', 'pass'] as Verdict[]]]) },
      );
      expect(decide({ migration: m }, x, r)).toEqual({
        decision: 'rollback',
        reason: 'gate error-rate failed 3 times (failure limit 3): online.error_rate 0.05 > 0.01',
      });
    });
    it('when a gate reaches its consecutive limit (no data neither continues nor ends a run)', () => {
      const x = measured(
        m,
        r,
        { 'error-rate': ['fail', 'online.error_rate 0.02 > 0.01'] },
        { history: new Map([['error-rate', ['pass', 'fail', 'no_data'] as Verdict[]]]) },
      );
      expect(decide({ migration: m }, x, r)).toEqual({
        decision: 'rollback',
        reason: 'gate error-rate failed 2 times in a row (consecutive limit 2): online.error_rate 0.02 > 0.01',
      });
    });
    it('not on a first failure, nor on a failure measured in an earlier tick', () => {
      const first = measured(m, r, { 'error-rate': 'fail' });
      expect(decide({ migration: m }, first, r).decision).toBe('hold');
      // The stored history alone (no fresh result for the gate) does not roll back again.
      const stale = measured(m, r, {}, { history: new Map([['error-rate', ['fail', 'fail', 'fail'] as Verdict[]]]) });
      const gates = stale.fresh.filter((f) => f.gate !== 'error-rate');
      expect(decide({ migration: m }, { ...stale, fresh: gates }, r).decision).toBe('promote');
    });
    it('before anything else: a young, quiet step still rolls back', () => {
      const x = measured(
        m,
        r,
        { 'error-rate': ['fail', 'e'] },
        { stepAgeMs: 0, candidateRequests: 0, history: new Map([['error-rate', ['fail'] as Verdict[]]]) },
      );
      expect(decide({ migration: m }, x, r).decision).toBe('rollback');
    });
    it('on the first gate, in measuring order, whose record reaches its limits', () => {
      const two = rollout({
        gates: [
          { name: 'latency', metric: 'online.latency_p95_ms', max: 500, failure_limit: 1 },
          { name: 'trips', metric: 'online.breaker_opens', max: 0, failure_limit: 1 },
        ],
      });
      const d = decide({ migration: m }, measured(m, two, { latency: ['fail', 'l'], trips: ['fail', 't'] }), two);
      expect(d.reason).toBe('gate latency failed 1 times (failure limit 1): l');
    });
  });

  describe('cutover', () => {
    const m = migration('cutover', 100);

    it('completes unless watching', () => {
      const done = {
        decision: 'complete',
        reason: 'the candidate next serves 100% (phase cutover); finalize when you are sure: reembed migrate finalize',
      };
      expect(decideUnmeasured({ migration: m })).toEqual(done);
      expect(decide({ migration: m, watchCutover: false }, measured(m, r), r)).toEqual(done);
    });
    it('watching: holds, naming the failing gates', () => {
      expect(decideUnmeasured({ migration: m, watchCutover: true })).toBeNull();
      expect(decide({ migration: m, watchCutover: true }, measured(m, r), r)).toEqual({
        decision: 'hold',
        reason: 'cutover: watching the candidate until `reembed migrate finalize`',
      });
      const failing = measured(m, r, { 'error-rate': ['fail', 'online.error_rate 0.02 > 0.01'] });
      expect(decide({ migration: m, watchCutover: true }, failing, r)).toEqual({
        decision: 'hold',
        reason:
          'cutover: watching the candidate until `reembed migrate finalize`; error-rate: FAIL online.error_rate 0.02 > 0.01',
      });
      // No data is no failure here: there is nothing to promote to, so it is not named.
      const quiet = measured(m, r, { 'error-rate': 'no_data' });
      expect(decide({ migration: m, watchCutover: true }, quiet, r).reason).toBe(
        'cutover: watching the candidate until `reembed migrate finalize`',
      );
    });
    it('watching: rolls back on a gate limit, whatever the step age', () => {
      const x = measured(
        m,
        r,
        { 'error-rate': ['fail', 'online.error_rate 0.02 > 0.01'] },
        { stepAgeMs: 0, history: new Map([['error-rate', ['fail'] as Verdict[]]]) },
      );
      expect(decide({ migration: m, watchCutover: true }, x, r)).toEqual({
        decision: 'rollback',
        reason: 'gate error-rate failed 2 times in a row (consecutive limit 2): online.error_rate 0.02 > 0.01',
      });
    });
  });

  describe('complete and stop', () => {
    it('complete once finalized, even when watching', () => {
      const m = migration('finalized', 100);
      expect(decide({ migration: m, watchCutover: true }, measured(m, r), r)).toEqual({
        decision: 'complete',
        reason:
          'the candidate next serves 100% (phase finalized); finalize when you are sure: reembed migrate finalize',
      });
    });
    it.each(['cleaned', 'rolled_back', 'aborted'] as const)('stop when %s, whatever was measured', (phase) => {
      const m = migration(phase);
      const failing = measured(m, r, { coverage: 'fail' }, { history: new Map([['coverage', ['fail', 'fail']]]) });
      expect(decide({ migration: m, watchCutover: true }, failing, r)).toEqual({
        decision: 'stop',
        reason: `the migration is ${phase}; nothing to control`,
      });
    });
  });
});
