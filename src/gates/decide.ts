import { formatDuration } from '../config/duration.js';
import type { Gate, RolloutConfig } from '../config/rollout.js';
import { rolloutEnded } from '../migration/phases.js';
import type { MigrationState } from '../migration/state.js';
import { isOnline, isShadow, rollbackReason, standing, type GateResult, type Verdict } from './evaluate.js';
import type { Decision } from './tables.js';

/**
 * The controller's rules, as pure functions of what it read: no database, no clock, no I/O.
 * The controller (controller.ts) measures, calls decide(), then acts: the webhook before a
 * promotion, the transition, the tick it records.
 */

/** The state decided on. */
export interface DecideState {
  migration: MigrationState;
  /** Keep watching after cutover (ControllerOptions.watchCutover). */
  watchCutover?: boolean;
}

/** What the controller measured and read for this tick. */
export interface Measurements {
  /** The gates that apply in this state (applicableGates). */
  gates: readonly Gate[];
  /** The results measured in this tick, in the order of `gates`. */
  fresh: readonly GateResult[];
  /** Every applicable gate's result: measured now, or the last one within its interval. */
  current: readonly GateResult[];
  /** Each gate's stored verdicts in this migration, oldest first (this tick's not included). */
  history: ReadonlyMap<string, readonly Verdict[]>;
  /** How long the migration has been in this state (step), in ms. */
  stepAgeMs: number;
  /**
   * Requests the candidate served in this step; needed only when countsRequests() says so
   * (undefined counts as none).
   */
  candidateRequests?: number;
}

/** A promotion: the lifecycle action and the percentage it leads to. */
export interface Promotion {
  action: 'shadow' | 'ramp' | 'cutover';
  percent: number;
}

export interface Decided {
  decision: Decision;
  reason: string;
  /** With `promote`: where to. */
  next?: Promotion;
}

/** What applicableGates needs to know of the two profiles. */
export interface GateProfiles {
  /** The candidate's dimensions. */
  candidateDims: number;
  /** Either profile embeds an image input. */
  imageInput?: boolean;
}

/** The gates that speak to the next promotion from this state. */
export function applicableGates(m: MigrationState, rollout: RolloutConfig, profiles: GateProfiles): Gate[] {
  return rollout.gates.filter((g) => {
    // pgvector indexes at most 4,000 dims: such a profile is searched exactly, so there is no ANN to check.
    if (g.metric === 'ann.overlap' && profiles.candidateDims > 4000) return false;
    // `reembed eval` reads a text dataset: it measures a profile with an image input on its text
    // alone, so an offline gate would judge a multimodal candidate by half its input (and could
    // roll back a better one). Judge such a migration online.
    if (g.metric.startsWith('offline.') && profiles.imageInput) return false;
    if (m.phase === 'backfilling')
      return !isOnline(g.metric) && !isShadow(g.metric) && !g.metric.startsWith('offline.');
    // At cutover (watched): what the candidate serves, and the nightly evaluations, which can
    // still regress after 100% (a new eval run in the history is a new measurement).
    if (m.phase === 'cutover') return isOnline(g.metric) || g.metric.startsWith('offline.');
    if (isOnline(g.metric)) return m.phase === 'canary';
    if (isShadow(g.metric)) return m.shadowSample > 0;
    return true;
  });
}

/** The promotion from this state: the next phase and percentage, or null when there is none. */
export function nextPromotion(m: MigrationState, rollout: RolloutConfig): Promotion | null {
  if (m.phase === 'backfilling') return { action: 'shadow', percent: 0 };
  if (m.phase === 'shadow') return { action: 'ramp', percent: rollout.steps[0]! };
  if (m.phase === 'canary') {
    const step = rollout.steps.find((s) => s > m.percent);
    if (step === undefined || step === 100) return { action: 'cutover', percent: 100 };
    return { action: 'ramp', percent: step };
  }
  return null;
}

/** How a promotion's target reads in reasons: `shadow` or `25%`. */
export function promotionTarget(next: Promotion): string {
  return next.action === 'shadow' ? 'shadow' : `${next.percent}%`;
}

/** Whether decide() needs the candidate's requests in this step (Measurements.candidateRequests). */
export function countsRequests(m: MigrationState, rollout: RolloutConfig): boolean {
  return m.phase === 'canary' && rollout.stepMinRequests > 0;
}

/**
 * The decision that needs no measurement: `complete` or `stop` once the rollout has nothing
 * left to do (at cutover unless watching it), `hold` while planned; null when the gates are
 * to be measured.
 */
export function decideUnmeasured(state: DecideState): Decided | null {
  const m = state.migration;
  const watching = m.phase === 'cutover' && state.watchCutover;
  if (rolloutEnded(m.phase) || (m.phase === 'cutover' && !watching)) {
    if (m.phase === 'cutover' || m.phase === 'finalized')
      return {
        decision: 'complete',
        reason: `the candidate ${m.candidate} serves 100% (phase ${m.phase}); finalize when you are sure: reembed migrate finalize`,
      };
    return { decision: 'stop', reason: `the migration is ${m.phase}; nothing to control` };
  }
  if (m.phase === 'planned')
    return { decision: 'hold', reason: 'the migration is planned: start it (reembed migrate start)' };
  return null;
}

/**
 * One tick's decision: roll back when a gate's record (stored verdicts plus this tick's)
 * reaches its limits; at cutover, watch; hold while any applicable gate has not passed or the
 * step is too young or too quiet; promote otherwise.
 */
export function decide(state: DecideState, measurements: Measurements, rollout: RolloutConfig): Decided {
  const unmeasured = decideUnmeasured(state);
  if (unmeasured) return unmeasured;
  const m = state.migration;
  const { fresh, current } = measurements;

  for (const result of fresh) {
    const gate = measurements.gates.find((g) => g.name === result.gate)!;
    const why = rollbackReason(gate, standing([...(measurements.history.get(gate.name) ?? []), result.verdict]));
    if (why) return { decision: 'rollback', reason: `${why}: ${result.reason}` };
  }

  if (m.phase === 'cutover') {
    // Nothing to promote to: the controller only watches, until a person finalizes. Relative
    // online conditions have no control traffic to compare with here; absolute ones still
    // apply, and so do offline ones (the evaluation runs both profiles).
    const failing = current.filter((r) => r.verdict === 'fail');
    return {
      decision: 'hold',
      reason: `cutover: watching the candidate until \`reembed migrate finalize\`${failing.length ? `; ${failing.map((r) => `${r.gate}: FAIL ${r.reason}`).join('; ')}` : ''}`,
    };
  }

  const holding = current.filter((r) => r.verdict !== 'pass');
  if (holding.length)
    return {
      decision: 'hold',
      reason: holding.map((r) => `${r.gate}: ${r.verdict === 'fail' ? `FAIL ${r.reason}` : r.reason}`).join('; '),
    };

  const dwell = stepDwell(m, measurements, rollout);
  if (dwell) return { decision: 'hold', reason: dwell };

  const next = nextPromotion(m, rollout)!;
  return {
    decision: 'promote',
    reason: `controller: every gate passed (${current.map((r) => r.gate).join(', ') || 'none applied'}); promoting to ${promotionTarget(next)}`,
    next,
  };
}

/** Why the step may not be left yet (too young, too little traffic), or null. */
function stepDwell(m: MigrationState, x: Measurements, rollout: RolloutConfig): string | null {
  if (m.phase === 'backfilling') return null;
  const label = m.phase === 'shadow' ? 'shadow' : `step ${m.percent}%`;
  if (x.stepAgeMs < rollout.stepMinDuration)
    return `${label}: ${formatDuration(x.stepAgeMs)} of the minimum ${formatDuration(rollout.stepMinDuration)}`;
  if (countsRequests(m, rollout)) {
    const served = x.candidateRequests ?? 0;
    if (served < rollout.stepMinRequests)
      return `${label}: the candidate served ${served} of the minimum ${rollout.stepMinRequests} requests`;
  }
  return null;
}
