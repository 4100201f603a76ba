/**
 * What an alert rule observes: the gates' metric readers (measure.ts) for the gates' metrics,
 * the backfill's counts for the queue, dead letters and rows per second, and, for a
 * `vs_median_7d` rule, the newest evaluation run against the median of the 7 days before it.
 */
import { liveWorkers } from '../backfill/control.js';
import { failuresByProfile } from '../backfill/failures.js';
import type { AlertRule } from '../config/alerts.js';
import type { Gate, GateMetric } from '../config/rollout.js';
import { HistoryError, readHistory } from '../eval/history.js';
import { METRIC_NAMES } from '../eval/metrics.js';
import { MEDIAN_WINDOW_MS, median, metricTrend } from '../eval/trend.js';
import { queuedByProfile } from '../source/capture.js';
import type { Breach } from './alert-state.js';
import { fingerprintsOf, measure, type MeasureContext } from './measure.js';

export interface AlertObservation {
  value: number | null;
  /** The 7-day median compared with (vs_median_7d rules). */
  baseline?: number | null;
  breach: Breach;
  /** The condition in words, e.g. `> 20`, or `drop > 0.03 vs the 7-day median`. */
  condition: string;
  /** What was seen, in words (the notification's summary). */
  summary: string;
  details?: Record<string, unknown>;
}

/** Measured in the context of one profile: `candidate` (and `control`) of the context are that profile. */
export type AlertMeasureContext = MeasureContext;

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : Number(x.toPrecision(4)).toString());

/** The rule's condition in words. */
export function describeRule(rule: AlertRule): string {
  if (rule.vs_median_7d) {
    const parts: string[] = [];
    if (rule.vs_median_7d.drop !== undefined) parts.push(`drop > ${fmt(rule.vs_median_7d.drop)}`);
    if (rule.vs_median_7d.rise !== undefined) parts.push(`rise > ${fmt(rule.vs_median_7d.rise)}`);
    return `${parts.join(' or ')} vs the 7-day median`;
  }
  return `${rule.op} ${fmt(rule.threshold!)}`;
}

function compare(value: number, op: NonNullable<AlertRule['op']>, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/** Observes the rule once. A value that cannot be read is no data (which never fires). */
export async function observeRule(rule: AlertRule, ctx: AlertMeasureContext): Promise<AlertObservation> {
  const condition = describeRule(rule);
  const noData = (why: string, details?: Record<string, unknown>): AlertObservation => ({
    value: null,
    breach: null,
    condition,
    summary: `${rule.metric} of ${ctx.candidate.name}: no data (${why})`,
    ...(details ? { details } : {}),
  });
  let read: { value: number | null; note?: string; details?: Record<string, unknown> };
  try {
    if (rule.vs_median_7d) return versusMedian(rule, ctx, condition);
    read = await readMetric(rule, ctx);
  } catch (error) {
    return noData(`reading it failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (read.value === null || !Number.isFinite(read.value)) return noData(read.note ?? 'nothing measured', read.details);
  const breach = compare(read.value, rule.op!, rule.threshold!);
  return {
    value: read.value,
    breach,
    condition,
    summary: `${rule.metric} of ${ctx.candidate.name} ${fmt(read.value)} (${breach ? '' : 'not '}${condition})`,
    ...(read.details ? { details: read.details } : {}),
  };
}

async function readMetric(
  rule: AlertRule,
  ctx: AlertMeasureContext,
): Promise<{ value: number | null; note?: string; details?: Record<string, unknown> }> {
  const profile = ctx.candidate.name;
  if (rule.metric === 'queue.depth') return { value: (await queuedByProfile(ctx.db)).get(profile) ?? 0 };
  if (rule.metric === 'backfill.dead_letters') return { value: (await failuresByProfile(ctx.db)).get(profile) ?? 0 };
  if (rule.metric === 'backfill.rows_per_second') {
    const workers = (await liveWorkers(ctx.db, 60)).filter((w) => w.profiles.includes(profile));
    if (workers.length === 0) return { value: null, note: `no live worker embeds ${profile}` };
    const rate = workers.reduce(
      (a, w) => a + (w.uptimeSeconds > 0 ? (w.byProfile[profile]?.rowsEmbedded ?? 0) / w.uptimeSeconds : 0),
      0,
    );
    return { value: rate, details: { workers: workers.length } };
  }
  // The gates' own reader, as a gate without bounds over the rule's window.
  const gate = {
    name: rule.name,
    metric: rule.metric as GateMetric,
    interval: rule.window,
    min_samples: rule.min_samples,
    no_data: 'hold',
    notify_on: [],
  } as Gate;
  const m = await measure(gate, ctx);
  // The gate reader's note names a candidate and a control; here both are the one profile.
  const served = (m.details?.candidate as { requests?: number } | undefined)?.requests;
  const note =
    m.candidate === null && served !== undefined
      ? `${served} requests in the last ${rule.window / 1000} s; min_samples ${rule.min_samples}`
      : m.note;
  return { value: m.candidate, note, details: m.details };
}

/** The newest run of the profile against the median of its runs in the 7 days before it. */
function versusMedian(rule: AlertRule, ctx: AlertMeasureContext, condition: string): AlertObservation {
  const name = rule.metric.slice('offline.'.length);
  const profile = ctx.candidate;
  const noData = (why: string): AlertObservation => ({
    value: null,
    baseline: null,
    breach: null,
    condition,
    summary: `${rule.metric} of ${profile.name}: no data (${why})`,
  });
  let entries;
  try {
    entries = readHistory(ctx.evalHistory);
  } catch (error) {
    if (error instanceof HistoryError) return noData(error.message);
    throw error;
  }
  const fingerprints = fingerprintsOf(profile);
  // Only runs of this configuration of the profile: another fingerprint is another model.
  const mine = entries.map((e) => ({
    ...e,
    profiles: e.profiles.filter((p) => p.profile === profile.name && fingerprints.includes(p.fingerprint)),
  }));
  const points = metricTrend(mine, { profile: profile.name, metric: METRIC_NAMES[name]!, metricName: name }).points;
  const latest = points.at(-1);
  if (!latest) return noData(`no evaluation of ${profile.name} in ${ctx.evalHistory}`);
  const at = Date.parse(latest.time);
  const before = points
    .slice(0, -1)
    .filter((p) => Date.parse(p.time) >= at - MEDIAN_WINDOW_MS)
    .map((p) => p.value);
  if (before.length === 0) return noData(`no run of ${profile.name} in the 7 days before ${latest.time}`);
  const baseline = median(before);
  const { drop, rise } = rule.vs_median_7d!;
  const delta = latest.value - baseline;
  const breach = (drop !== undefined && -delta > drop) || (rise !== undefined && delta > rise);
  return {
    value: latest.value,
    baseline,
    breach,
    condition,
    summary: `${rule.metric} of ${profile.name} ${fmt(latest.value)} at ${latest.time}, 7-day median ${fmt(baseline)} of ${before.length} runs (${delta >= 0 ? '+' : ''}${fmt(delta)}; ${breach ? '' : 'not '}${condition})`,
    details: { evaluatedAt: latest.time, runs: before.length, median7d: baseline, delta },
  };
}
