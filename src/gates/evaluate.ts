import type { Gate, GateMetric } from '../config/rollout.js';

export type Verdict = 'pass' | 'fail' | 'no_data';

/** What a gate's metric measured: the candidate's value and, over the same window, the control's. */
export interface Measurement {
  candidate: number | null;
  control: number | null;
  /** Why a value is missing, or where it came from (shown beside the verdict). */
  note?: string;
  details?: Record<string, unknown>;
  /** The value is missing for a reason that says nothing against the candidate: held even under `no_data: fail`. */
  holdOnNoData?: boolean;
  /**
   * There was nothing to judge and the condition holds for want of anything against it (no
   * just-in-time request was made: none can have waited). Passes, with this as its reason.
   */
  vacuous?: string;
}

export interface GateResult {
  gate: string;
  metric: Gate['metric'];
  verdict: Verdict;
  candidate: number | null;
  control: number | null;
  /** The condition checked, e.g. "≤ control + 0.002 and ≤ 500". */
  condition: string;
  reason: string;
  details?: Record<string, unknown>;
}

/** Whether a gate's metric comes from live traffic (so it applies only once the candidate serves). */
export function isOnline(metric: GateMetric): boolean {
  return metric.startsWith('online.');
}

/** Whether a gate's metric comes from shadow reads (so it applies only while they are sampled). */
export function isShadow(metric: GateMetric): boolean {
  return metric.startsWith('shadow.');
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : Number(x.toPrecision(4)).toString();
}

/** The gate's condition in words, for tables and audit reasons. */
export function describeCondition(gate: Gate): string {
  const parts: string[] = [];
  if (gate.min !== undefined) parts.push(`≥ ${fmt(gate.min)}`);
  if (gate.max !== undefined) parts.push(`≤ ${fmt(gate.max)}`);
  if (gate.max_increase !== undefined) parts.push(`≤ control + ${fmt(gate.max_increase)}`);
  if (gate.max_decrease !== undefined) parts.push(`≥ control − ${fmt(gate.max_decrease)}`);
  if (gate.max_ratio !== undefined) parts.push(`≤ control × ${fmt(gate.max_ratio)}`);
  if (gate.min_ratio !== undefined) parts.push(`≥ control × ${fmt(gate.min_ratio)}`);
  return parts.join(' and ');
}

function isRelative(gate: Gate): boolean {
  return [gate.max_increase, gate.max_decrease, gate.max_ratio, gate.min_ratio].some((b) => b !== undefined);
}

/**
 * One measurement against the gate's condition. A missing value is `no_data`, unless the gate's
 * policy counts it as a failure; it never passes.
 */
export function evaluateGate(gate: Gate, m: Measurement): GateResult {
  const base = {
    gate: gate.name,
    metric: gate.metric,
    candidate: m.candidate,
    control: m.control,
    condition: describeCondition(gate),
    details: m.details,
  };
  // An absolute bound needs only the candidate's value: a candidate over budget fails even
  // while the control has too little traffic to compare with.
  if (m.candidate !== null && m.control === null && isRelative(gate)) {
    const absolute = absoluteFailures(gate, m.candidate);
    if (absolute.length) return { ...base, verdict: 'fail', reason: `${gate.metric} ${absolute.join('; ')}` };
  }
  const missing =
    m.candidate === null
      ? `no data for the candidate${m.note ? ` (${m.note})` : ''}`
      : isRelative(gate) && m.control === null
        ? `no data for the control${m.note ? ` (${m.note})` : ''}`
        : null;
  if (m.candidate === null && m.vacuous) return { ...base, verdict: 'pass', reason: `${gate.metric}: ${m.vacuous}` };
  if (missing) {
    if (gate.no_data === 'fail' && !m.holdOnNoData)
      return { ...base, verdict: 'fail', reason: `${missing}; the gate counts no data as a failure` };
    return { ...base, verdict: 'no_data', reason: `${missing}; holding` };
  }
  const c = m.candidate!;
  const failed = absoluteFailures(gate, c);
  if (m.control !== null) {
    const ctl = m.control;
    if (gate.max_increase !== undefined && !(c <= ctl + gate.max_increase))
      failed.push(`${fmt(c)} > control ${fmt(ctl)} + ${fmt(gate.max_increase)}`);
    if (gate.max_decrease !== undefined && !(c >= ctl - gate.max_decrease))
      failed.push(`${fmt(c)} < control ${fmt(ctl)} − ${fmt(gate.max_decrease)}`);
    if (gate.max_ratio !== undefined && !(c <= ctl * gate.max_ratio))
      failed.push(`${fmt(c)} > control ${fmt(ctl)} × ${fmt(gate.max_ratio)}`);
    if (gate.min_ratio !== undefined && !(c >= ctl * gate.min_ratio))
      failed.push(`${fmt(c)} < control ${fmt(ctl)} × ${fmt(gate.min_ratio)}`);
  }
  if (failed.length)
    return {
      ...base,
      verdict: 'fail',
      reason: `${gate.metric} ${failed.join('; ')}${m.note ? ` (${m.note})` : ''}`,
    };
  return {
    ...base,
    verdict: 'pass',
    reason: `${gate.metric} ${fmt(c)}${m.control !== null ? ` (control ${fmt(m.control)})` : ''} ${base.condition}`,
  };
}

function absoluteFailures(gate: Gate, c: number): string[] {
  const failed: string[] = [];
  if (gate.min !== undefined && !(c >= gate.min)) failed.push(`${fmt(c)} < ${fmt(gate.min)}`);
  if (gate.max !== undefined && !(c <= gate.max)) failed.push(`${fmt(c)} > ${fmt(gate.max)}`);
  return failed;
}

/** A gate's record in this migration: failures in total and at the end of its history. */
export interface GateStanding {
  failures: number;
  consecutive: number;
}

/**
 * Folds a gate's verdicts, oldest first. A pass ends a run of failures; `no_data` neither
 * continues nor ends one (a quiet minute says nothing about the candidate).
 */
export function standing(verdicts: readonly Verdict[]): GateStanding {
  let failures = 0;
  let consecutive = 0;
  for (const v of verdicts) {
    if (v === 'fail') {
      failures++;
      consecutive++;
    } else if (v === 'pass') consecutive = 0;
  }
  return { failures, consecutive };
}

/** Whether the gate's record calls for a rollback, and why; null when it does not. */
export function rollbackReason(gate: Gate, s: GateStanding): string | null {
  if (gate.consecutive_limit !== undefined && s.consecutive >= gate.consecutive_limit)
    return `gate ${gate.name} failed ${s.consecutive} times in a row (consecutive limit ${gate.consecutive_limit})`;
  if (gate.failure_limit !== undefined && s.failures >= gate.failure_limit)
    return `gate ${gate.name} failed ${s.failures} times (failure limit ${gate.failure_limit})`;
  return null;
}
