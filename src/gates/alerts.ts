/**
 * Evaluates the manifest's alert rules (and the gates marked `notify_on`) once: observe each,
 * step its state under a row lock (alert-state.ts), record a transition as an event, then
 * deliver the events to the webhooks of their severity and record the results. The controller
 * calls it every tick and acts on `rollback`; `reembed watch` calls it every interval.
 */
import type { AlertRule, AlertsConfig, Severity } from '../config/alerts.js';
import type { Manifest } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Gate } from '../config/rollout.js';
import type { Database } from '../db/database.js';
import { ConfigError } from '../errors.js';
import { rolloutEnded } from '../migration/phases.js';
import type { MigrationState } from '../migration/state.js';
import type { Source } from '../source/source.js';
import { observeRule, type AlertObservation } from './alert-measure.js';
import { annOverlap } from './ann-overlap.js';
import { deliverAlert } from './alert-notify.js';
import { INACTIVE, stepAlert, type AlertPhase, type AlertTransition, type Breach } from './alert-state.js';
import { insertAlertEvent, lockAlertState, recordDeliveries, saveAlertState, type AlertEvent } from './alert-tables.js';
import type { GateResult } from './evaluate.js';
import type { MeasureContext } from './measure.js';

export interface AlertContext {
  db: Database;
  manifest: Manifest;
  source: Source;
  /** The source's migration, if any (an ended one is no scope: the rules measure the active profile). */
  migration: MigrationState | null;
  /** The profile measured when no migration is in progress (the environment's active profile). */
  activeProfile: string;
  /** Who evaluated (stored with each event): `controller`, `watch`, `library`. */
  evaluator: string;
  now: Date;
  /** The gates' results of this tick, for the gates marked `notify_on` (the controller's). */
  gates?: ReadonlyArray<{ gate: Gate; result: GateResult }>;
  alerts?: AlertsConfig;
  fetch?: typeof fetch;
  annOverlap?: MeasureContext['annOverlap'];
}

/** One rule's standing after this evaluation. */
export interface RuleReport {
  rule: string;
  severity: Severity;
  metric: string;
  profile: string | null;
  condition: string;
  value: number | null;
  baseline?: number | null;
  /** Whether the condition held (null: no data). */
  breach: Breach;
  phase: AlertPhase;
  transition: AlertTransition | null;
  summary: string;
  rollback: boolean;
}

export interface AlertReport {
  at: string;
  evaluator: string;
  /** The migration evaluated in, or null. */
  migration: string | null;
  rules: RuleReport[];
  /** The notifications of this evaluation (with their delivery results). */
  events: AlertEvent[];
  /** A critical `rollback: true` rule firing during an active migration: the controller rolls it back. */
  rollback: { rule: string; reason: string } | null;
}

/** Phases in which a firing `rollback: true` rule rolls the migration back (the candidate serves or soon will). */
export function rollsBackIn(m: MigrationState | null): m is MigrationState {
  return m !== null && !rolloutEnded(m.phase) && m.phase !== 'planned';
}

interface Subject {
  name: string;
  severity: Severity;
  forMs: number;
  rollback: boolean;
  metric: string;
  profile: string | null;
  observe: () => Promise<AlertObservation>;
}

/** The gate as a rule: it "fires" while its verdict is one the gate is to notify on. */
function gateSubject(gate: Gate, result: GateResult): Subject {
  const fail = result.verdict === 'fail';
  const holding = result.verdict !== 'pass';
  const breach = (gate.notify_on.includes('fail') && fail) || (gate.notify_on.includes('hold') && holding);
  const word = fail ? 'FAIL' : holding ? 'holds' : 'passes';
  return {
    name: `gate:${gate.name}`,
    severity: 'warning',
    forMs: 0,
    rollback: false,
    metric: gate.metric,
    profile: null,
    observe: async () => ({
      value: result.candidate,
      breach,
      condition: `notify on ${gate.notify_on.join(', ')}`,
      summary: `gate ${gate.name} ${word}: ${result.reason}`,
    }),
  };
}

export async function evaluateAlerts(ctx: AlertContext): Promise<AlertReport> {
  const config = ctx.alerts ?? ctx.manifest.alerts;
  const m = ctx.migration && !rolloutEnded(ctx.migration.phase) ? ctx.migration : null;
  const scope = m?.id ?? '';
  const profileOf = (name: string): Profile => {
    const p = ctx.manifest.profiles.get(name);
    if (!p) throw new ConfigError(`alert rules measure profile ${name}, which the manifest does not define`);
    return p;
  };
  const ruleSubject = (rule: AlertRule): Subject => {
    const profile = profileOf(rule.profile ?? m?.candidate ?? ctx.activeProfile);
    const measureCtx: MeasureContext = {
      db: ctx.db,
      source: ctx.source,
      control: profile,
      candidate: profile,
      now: ctx.now,
      // During a migration, just-in-time rules count nothing from before it (another migration's).
      migrationCreatedAt: m ? new Date(m.createdAt) : undefined,
      evalHistory: ctx.manifest.rollout.evalHistory,
      annQueries: ctx.manifest.rollout.annQueries,
      readiness: { maxQueueLagMs: ctx.manifest.rollout.maxQueueLag, minCoverage: ctx.manifest.rollout.minCoverage },
      annOverlap: ctx.annOverlap ?? ((p, queries) => annOverlap(ctx.db, p, queries)),
    };
    return {
      name: rule.name,
      severity: rule.severity,
      forMs: rule.for,
      rollback: rule.rollback && rule.severity === 'critical',
      metric: rule.metric,
      profile: profile.name,
      observe: () => observeRule(rule, measureCtx),
    };
  };
  const subjects = [
    ...config.rules.map(ruleSubject),
    ...(ctx.gates ?? []).filter((g) => g.gate.notify_on.length > 0).map((g) => gateSubject(g.gate, g.result)),
  ];

  const now = ctx.now.getTime();
  const at = ctx.now.toISOString();
  const rules: RuleReport[] = [];
  const events: AlertEvent[] = [];
  let rollback: AlertReport['rollback'] = null;
  for (const s of subjects) {
    const seen = await s.observe();
    const { phase, transition, recorded } = await ctx.db.transaction(async (tx) => {
      const locked = await lockAlertState(tx, s.name, scope);
      const recorded: AlertEvent[] = [];
      const event = (transition: AlertTransition, eventScope: string, summary: string) =>
        insertAlertEvent(tx, {
          at,
          rule: s.name,
          scope: eventScope,
          severity: s.severity,
          transition,
          value: seen.value,
          summary,
          details: {
            evaluator: ctx.evaluator,
            metric: s.metric,
            profile: s.profile,
            condition: seen.condition,
            ...(seen.baseline !== undefined ? { baseline: seen.baseline } : {}),
          },
        });
      let prev = locked.state;
      if (locked.scope !== scope) {
        // Another migration (or none): the rule starts afresh; an alert firing in the old scope is closed.
        if (prev.phase === 'firing')
          recorded.push(
            await event(
              'resolved',
              locked.scope,
              `${locked.scope ? `migration ${locked.scope}` : 'the time without a migration'} is over; evaluating anew`,
            ),
          );
        prev = INACTIVE;
      }
      const step = stepAlert(prev, seen.breach, now, { forMs: s.forMs, repeatMs: config.repeatInterval });
      await saveAlertState(tx, s.name, scope, step.state, seen.value);
      if (step.transition) recorded.push(await event(step.transition, scope, seen.summary));
      return { phase: step.state.phase, transition: step.transition, recorded };
    });
    events.push(...recorded);
    rules.push({
      rule: s.name,
      severity: s.severity,
      metric: s.metric,
      profile: s.profile,
      condition: seen.condition,
      value: seen.value,
      ...(seen.baseline !== undefined ? { baseline: seen.baseline } : {}),
      breach: seen.breach,
      phase,
      transition,
      summary: seen.summary,
      rollback: s.rollback,
    });
    // Only what was seen to breach now, after its for:, in a migration in progress: never a
    // firing state carried over a gap in the data.
    if (!rollback && s.rollback && phase === 'firing' && seen.breach === true && rollsBackIn(m))
      rollback = { rule: s.name, reason: `alert ${s.name} (critical) firing: ${seen.summary}` };
  }

  for (const e of events) {
    const deliveries = await deliverAlert(e, config.webhooks, config.timeout, ctx.fetch);
    await recordDeliveries(ctx.db, e.id, deliveries);
    e.deliveries = deliveries;
  }
  return { at, evaluator: ctx.evaluator, migration: m?.id ?? null, rules, events, rollback };
}
