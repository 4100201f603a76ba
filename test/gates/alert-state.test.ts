import { describe, expect, it } from 'vitest';
import { INACTIVE, stepAlert, type AlertState, type Breach } from '../../src/gates/alert-state.js';
import { ManualClock } from '../helpers/manual-clock.js';

const MINUTE = 60_000;

/** Steps one rule through the observations, one per minute of the clock; returns each transition. */
function run(observations: Breach[], forMs: number, repeatMs = 0) {
  const clock = new ManualClock();
  let state: AlertState = INACTIVE;
  const out: Array<{ at: number; phase: string; transition: string | null }> = [];
  for (const breach of observations) {
    const step = stepAlert(state, breach, clock.now(), { forMs, repeatMs });
    state = step.state;
    out.push({ at: clock.now(), phase: state.phase, transition: step.transition });
    clock.advance(MINUTE);
  }
  return out;
}

describe('an alert rule over time', () => {
  it('fires only once the condition has held for its for:, then resolves once', () => {
    const steps = run([true, true, true, true, false, false], 3 * MINUTE);
    expect(steps.map((s) => s.phase)).toEqual(['pending', 'pending', 'pending', 'firing', 'inactive', 'inactive']);
    expect(steps.map((s) => s.transition)).toEqual([null, null, null, 'firing', 'resolved', null]);
  });

  it('a condition that stops holding before for: starts the count again', () => {
    const steps = run([true, true, false, true, true, true], 2 * MINUTE);
    expect(steps.map((s) => s.transition)).toEqual([null, null, null, null, null, 'firing']);
    expect(steps[5]!.at).toBe(5 * MINUTE);
  });

  it('without for:, fires at the first breach', () => {
    expect(run([false, true], 0).map((s) => s.transition)).toEqual([null, 'firing']);
  });

  it('no data never fires: a pending rule goes back to inactive, a firing one stays firing silently', () => {
    expect(run([true, null, true, true], 1 * MINUTE).map((s) => s.phase)).toEqual([
      'pending',
      'inactive',
      'pending',
      'firing',
    ]);
    expect(run([null, null, null], 0).map((s) => s.phase)).toEqual(['inactive', 'inactive', 'inactive']);
    const firing = run([true, null, null, false], 0);
    expect(firing.map((s) => s.phase)).toEqual(['firing', 'firing', 'firing', 'inactive']);
    expect(firing.map((s) => s.transition)).toEqual(['firing', null, null, 'resolved']);
  });

  it('repeats a still-firing alert every repeat interval, and never with 0', () => {
    const steps = run([true, true, true, true, true, true], 0, 2 * MINUTE);
    expect(steps.map((s) => s.transition)).toEqual(['firing', null, 'repeat', null, 'repeat', null]);
    expect(run([true, true, true, true], 0, 0).map((s) => s.transition)).toEqual(['firing', null, null, null]);
  });

  it('keeps when the condition began and when it fired', () => {
    const clock = new ManualClock();
    clock.advance(1000);
    let s = stepAlert(INACTIVE, true, clock.now(), { forMs: 500, repeatMs: 0 }).state;
    clock.advance(600);
    s = stepAlert(s, true, clock.now(), { forMs: 500, repeatMs: 0 }).state;
    expect(s).toEqual({ phase: 'firing', since: 1000, firedAt: 1600, notifiedAt: 1600 });
  });
});
