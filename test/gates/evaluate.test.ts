import { describe, expect, it } from 'vitest';
import { parseRollout, type Gate, type GateInput } from '../../src/config/rollout.js';
import { describeCondition, evaluateGate, rollbackReason, standing } from '../../src/gates/evaluate.js';

function gate(input: Partial<GateInput> & Pick<GateInput, 'metric'>): Gate {
  const problems: string[] = [];
  const r = parseRollout({ gates: [{ name: 'g', ...input }] }, problems);
  expect(problems).toEqual([]);
  return r!.gates[0]!;
}

describe('gate evaluation', () => {
  it('passes and fails absolute bounds, naming the values', () => {
    const g = gate({ metric: 'coverage', min: 1 });
    expect(evaluateGate(g, { candidate: 1, control: null }).verdict).toBe('pass');
    const failed = evaluateGate(g, { candidate: 0.98, control: null });
    expect(failed.verdict).toBe('fail');
    expect(failed.reason).toBe('coverage 0.98 < 1');
    const max = gate({ metric: 'verify.failed_checks', max: 0 });
    expect(evaluateGate(max, { candidate: 0, control: null }).verdict).toBe('pass');
    expect(evaluateGate(max, { candidate: 2, control: null }).reason).toBe('verify.failed_checks 2 > 0');
  });

  it('checks conditions relative to the control', () => {
    const err = gate({ metric: 'online.error_rate', max_increase: 0.002 });
    expect(evaluateGate(err, { candidate: 0.011, control: 0.01 }).verdict).toBe('pass');
    expect(evaluateGate(err, { candidate: 0.012, control: 0.01 }).verdict).toBe('pass');
    const over = evaluateGate(err, { candidate: 0.0125, control: 0.01 });
    expect(over.verdict).toBe('fail');
    expect(over.reason).toContain('> control 0.01 + 0.002');

    const recall = gate({ metric: 'offline.recall@5', max_decrease: 0.02 });
    expect(evaluateGate(recall, { candidate: 0.5, control: 0.52 }).verdict).toBe('pass');
    expect(evaluateGate(recall, { candidate: 0.49, control: 0.52 }).verdict).toBe('fail');
    expect(evaluateGate(recall, { candidate: 0.9, control: 0.52 }).verdict).toBe('pass');

    const p95 = gate({ metric: 'online.latency_p95_ms', max_ratio: 1.15, max: 500 });
    expect(evaluateGate(p95, { candidate: 114, control: 100 }).verdict).toBe('pass');
    expect(evaluateGate(p95, { candidate: 116, control: 100 }).verdict).toBe('fail');
    // Within the ratio of a slow control, but over the absolute budget:
    const budget = evaluateGate(p95, { candidate: 520, control: 480 });
    expect(budget.verdict).toBe('fail');
    expect(budget.reason).toBe('online.latency_p95_ms 520 > 500');
    expect(describeCondition(p95)).toBe('≤ 500 and ≤ control × 1.15');

    // Over the absolute budget fails even when the control has too little traffic to compare.
    const noControl = evaluateGate(p95, { candidate: 3000, control: null });
    expect(noControl.verdict).toBe('fail');
    expect(noControl.reason).toBe('online.latency_p95_ms 3000 > 500');
    expect(evaluateGate(p95, { candidate: 300, control: null }).verdict).toBe('no_data');

    const overlap = gate({ metric: 'shadow.overlap', min_ratio: 0.5 });
    expect(evaluateGate(overlap, { candidate: 0.4, control: 1 }).verdict).toBe('fail');
  });

  it('never passes without data: holds by default, fails when the policy says so', () => {
    const hold = gate({ metric: 'online.error_rate', max: 0.01 });
    const r = evaluateGate(hold, { candidate: null, control: 0, note: 'candidate 3 requests; min_samples 20' });
    expect(r.verdict).toBe('no_data');
    expect(r.reason).toContain('candidate 3 requests');
    const fail = gate({ metric: 'online.error_rate', max: 0.01, no_data: 'fail' });
    expect(evaluateGate(fail, { candidate: null, control: null }).verdict).toBe('fail');
    // A relative condition without the control's value is no data too, even with the candidate's.
    const rel = gate({ metric: 'online.error_rate', max_increase: 0.002 });
    expect(evaluateGate(rel, { candidate: 0, control: null }).verdict).toBe('no_data');
    // NaN is not a pass.
    expect(evaluateGate(gate({ metric: 'coverage', min: 1 }), { candidate: NaN, control: null }).verdict).toBe('fail');
  });

  it('counts failures and runs of failures; a pass ends a run, no data does not', () => {
    expect(standing([])).toEqual({ failures: 0, consecutive: 0 });
    expect(standing(['fail', 'fail', 'pass', 'fail'])).toEqual({ failures: 3, consecutive: 1 });
    expect(standing(['fail', 'no_data', 'fail'])).toEqual({ failures: 2, consecutive: 2 });
    expect(standing(['fail', 'pass'])).toEqual({ failures: 1, consecutive: 0 });
  });

  it('calls for a rollback at the consecutive or the total failure limit, and never without limits', () => {
    const g = gate({ metric: 'online.error_rate', max: 0.01, failure_limit: 3, consecutive_limit: 2 });
    expect(rollbackReason(g, standing(['fail']))).toBeNull();
    expect(rollbackReason(g, standing(['fail', 'fail']))).toBe('gate g failed 2 times in a row (consecutive limit 2)');
    expect(rollbackReason(g, standing(['fail', 'pass', 'fail', 'pass']))).toBeNull();
    expect(rollbackReason(g, standing(['fail', 'pass', 'fail', 'pass', 'fail']))).toBe(
      'gate g failed 3 times (failure limit 3)',
    );
    const holdOnly = gate({ metric: 'coverage', min: 1 });
    expect(rollbackReason(holdOnly, standing(['fail', 'fail', 'fail', 'fail']))).toBeNull();
  });
});

describe('rollout configuration', () => {
  it('defaults to the runbook steps and gates', () => {
    const problems: string[] = [];
    const r = parseRollout(undefined, problems)!;
    expect(problems).toEqual([]);
    expect(r.steps).toEqual([5, 25, 50, 100]);
    expect(r.defaultGates).toBe(true);
    expect(r.gates.map((g) => g.name)).toEqual([
      'coverage',
      'verify',
      'ann-agreement',
      'offline-recall5',
      'error-rate',
      'latency-p95',
      'breaker-trips',
    ]);
    expect(r.gates.find((g) => g.name === 'ann-agreement')).toMatchObject({ min: 0.95, interval: 600_000 });
    expect(r.gates.find((g) => g.name === 'error-rate')).toMatchObject({ max_increase: 0.002, interval: 60_000 });
  });

  it('reads durations and replaces the defaults with the listed gates', () => {
    const problems: string[] = [];
    const r = parseRollout(
      {
        steps: [10, 100],
        interval: '30s',
        step_min_duration: '250ms',
        gates: [{ name: 'err', metric: 'online.error_rate', max: 0.01, interval: '2m', consecutive_limit: 10 }],
      },
      problems,
    )!;
    expect(problems).toEqual([]);
    expect(r).toMatchObject({ steps: [10, 100], interval: 30_000, stepMinDuration: 250, defaultGates: false });
    expect(r.gates).toHaveLength(1);
    expect(r.gates[0]).toMatchObject({ interval: 120_000, consecutive_limit: 10, no_data: 'hold' });
  });

  it('reports every problem with its path', () => {
    const problems: string[] = [];
    expect(
      parseRollout(
        {
          steps: [50, 25],
          gates: [
            { name: 'a', metric: 'online.latency', max: 1 },
            { name: 'b', metric: 'coverage' },
            { name: 'c', metric: 'coverage', min: 1, interval: 'soon' },
          ],
        },
        problems,
      ),
    ).toBeUndefined();
    expect(problems.join('\n')).toMatch(/rollout\.steps: steps must increase/);
    expect(problems.join('\n')).toMatch(/rollout\.steps: the last step must be 100/);
    const spin: string[] = [];
    parseRollout({ interval: 0, webhooks: { timeout: '0s' } }, spin);
    expect(spin).toEqual([
      'rollout.interval: must be at least 10ms',
      'rollout.webhooks.timeout: must be at least 10ms',
    ]);
    const again: string[] = [];
    parseRollout(
      {
        gates: [
          { name: 'a', metric: 'online.latency', max: 1 },
          { name: 'b', metric: 'coverage' },
          { name: 'c', metric: 'coverage', min: 1, interval: 'soon' },
          { name: 'd', metric: 'coverage', min: 1 },
          { name: 'd', metric: 'coverage', max: 1 },
        ],
      },
      again,
    );
    expect(again).toEqual([
      expect.stringMatching(/^rollout\.gates\.0\.metric: unknown metric "online\.latency"/),
      'rollout.gates.1: a gate needs a condition: min, max, max_increase, max_decrease, max_ratio or min_ratio',
      expect.stringMatching(/^rollout\.gates\.2\.interval: not a duration: "soon"/),
      'rollout.gates.4.name: duplicate gate name d',
    ]);
  });
});
