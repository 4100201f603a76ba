import { annOverlap } from './ann-overlap.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Manifest } from '../config/manifest.js';
import { imageRefOf, type Profile } from '../config/profile.js';
import type { Gate, RolloutConfig } from '../config/rollout.js';
import { formatDuration } from '../config/duration.js';
import { databaseNow } from '../db/clock.js';
import type { Database, Queryable } from '../db/database.js';
import { ConfigError, ReembedError } from '../errors.js';
import {
  cutoverMigration,
  rampMigration,
  rollbackMigration,
  shadowMigration,
  sourceName,
  TransitionRefusedError,
  type LifecycleContext,
} from '../migration/lifecycle.js';
import { rolloutEnded } from '../migration/phases.js';
import {
  activeMigration,
  ConcurrentChangeError,
  getMigration,
  latestMigration,
  type MigrationState,
} from '../migration/state.js';
import type { Source } from '../source/source.js';
import { readServingMetrics } from '../telemetry/serving-metrics.js';
import {
  applicableGates,
  countsRequests,
  decide,
  decideUnmeasured,
  promotionTarget,
  type DecideState,
  type Measurements,
  type Promotion,
} from './decide.js';
import { evaluateGate, isOnline, isShadow, type GateResult } from './evaluate.js';
import { measure, type MeasureContext } from './measure.js';
import { latestMeasurements, listTicks, recordTick, verdictHistory, type Decision, type Tick } from './tables.js';
import { postWebhook } from './webhook.js';
import { acquireLease, ControllerStandby, currentLease, holdsLease, releaseLease } from './lease.js';
import { backfillPlanner } from '../backfill/planner.js';
import { warnAndContinue } from '../logger.js';
import { evaluateAlerts, type AlertReport } from './alerts.js';

export interface ControllerOptions {
  db: Database;
  manifest: Manifest;
  source: Source;
  /** Steps, interval and gates (default: the manifest's `rollout:`). */
  rollout?: RolloutConfig;
  /** The migration to drive (default: the source's active one). */
  migrationId?: string;
  /** Who the audit log names for the controller's transitions (default `controller`). */
  actor?: string;
  /** The ANN agreement measurement (default: eval/ann-check.ts over the candidate's store). */
  annOverlap?: MeasureContext['annOverlap'];
  fetch?: typeof fetch;
  /**
   * Keep watching after cutover: the online gates stay on (absolute conditions; the control
   * serves nothing to compare with) and can still roll back, until the migration is finalized.
   */
  watchCutover?: boolean;
  /** The clock (default: the database's, which stamps migrations and serving metrics). */
  now?: () => Date;
  /**
   * How long the controller lease lasts without renewal (default: 3 intervals, at least 30 s):
   * how soon a standby takes over from a controller that died.
   */
  leaseMs?: number;
  /**
   * Windows by traffic, not by time: for a caller that sends a batch of traffic and then ticks
   * the controller itself (the demo). Every tick measures every gate, and a serving gate's
   * window is all of the step's traffic since its last judged window, however long that took,
   * so a slow machine reaches the same verdicts, only later. Default: a gate is measured once
   * per its interval over at most three intervals back (what run() on a live system needs).
   */
  windowsByTick?: boolean;
  /**
   * The profile alert rules measure when the source has no migration in progress (default: the
   * migration's control). Alerts are evaluated every tick; `false` turns them off.
   */
  alerts?: { activeProfile?: string } | false;
}

export interface TickReport {
  tick: Tick;
  migration: MigrationState;
  /** Every gate that applied in this tick: measured now, or the last measurement within its interval. */
  gates: GateResult[];
  /** True when there is nothing more to do: promoted to 100%, rolled back, or ended by someone else. */
  done: boolean;
  /** The alert rules evaluated in this tick (absent without rules and notify_on gates, or when off). */
  alerts?: AlertReport;
}

interface Cached {
  at: number;
  /** The end of the last window judged (pass or fail) in this migration state, for serving gates. */
  judgedTo?: number;
  /** The migration state it was measured in (serving gates are measured again in a new step). */
  migration: string;
  version: number;
  result: GateResult;
}

/** The source has no migration for the controller to drive (none planned yet). */
export class NoMigrationError extends ReembedError {
  constructor(source: string) {
    super(
      'NO_MIGRATION',
      `no migration for ${source}: plan and start one (reembed migrate plan --to PROFILE; reembed migrate start)`,
      { exitCode: 1 },
    );
  }
}

/**
 * The rollout loop: measure the gates that are due, then act on decide() (decide.ts): roll back
 * when a gate's record calls for it, hold while any applicable gate has not passed or the step
 * is too young or too quiet, promote otherwise. Every transition goes through the lifecycle
 * with the version the controller read, so a person's command in between wins and the
 * controller re-reads.
 */
export class Controller {
  readonly rollout: RolloutConfig;
  private readonly cache = new Map<string, Cached>();
  /** The migration whose stored measurements seeded the cache. */
  private seeded: string | null = null;
  private readonly now: () => Promise<Date>;
  private readonly ctx: LifecycleContext;
  /** Who this controller is in the lease table. */
  readonly identity = {
    holder: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    host: hostname(),
    pid: process.pid,
  };
  private readonly leaseMs: number;
  /** Inside run(): the lease is kept between ticks (a lone tick gives it up when done). */
  private running = false;
  /** The tick in progress: ticks of one controller run one at a time. */
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ControllerOptions) {
    this.rollout = options.rollout ?? options.manifest.rollout;
    this.leaseMs = options.leaseMs ?? Math.max(3 * this.rollout.interval, 30_000);
    if (!Number.isFinite(this.leaseMs) || this.leaseMs <= this.rollout.interval)
      throw new ConfigError(
        `the controller lease (${this.leaseMs} ms) must be longer than the interval (${formatDuration(this.rollout.interval)}), or it lapses between ticks`,
      );
    const clock = options.now;
    this.now = clock ? async () => clock() : () => databaseNow(options.db);
    this.ctx = {
      db: options.db,
      manifest: options.manifest,
      source: options.source,
      actor: options.actor ?? 'controller',
      backfill: backfillPlanner,
    };
  }

  private async migration(): Promise<MigrationState> {
    if (this.options.migrationId) return getMigration(this.options.db, this.options.migrationId);
    const name = sourceName(this.options.source);
    const m = (await activeMigration(this.options.db, name)) ?? (await latestMigration(this.options.db, name));
    if (!m) throw new NoMigrationError(name);
    return m;
  }

  private profile(name: string): Profile {
    const p = this.options.manifest.profiles.get(name);
    if (!p) throw new ConfigError(`the migration names profile ${name}, which the manifest does not define`);
    return p;
  }

  /**
   * What was measured before this controller started (a restart, or `--once` from cron): a gate
   * measured within its interval is not measured again, so the same traffic is not judged twice.
   */
  private async seed(m: MigrationState): Promise<void> {
    if (this.seeded === m.id) return;
    this.seeded = m.id;
    this.cache.clear();
    const ticks = await listTicks(this.options.db, m.id, 1);
    const last = ticks.at(-1);
    for (const x of await latestMeasurements(this.options.db, m.id)) {
      if (x.verdict === 'no_data') continue;
      // A measurement in the state the migration is in now was taken at this version.
      const version = last && last.phase === m.phase && last.percent === m.percent ? m.version : -1;
      this.cache.set(x.gate, { at: Date.parse(x.at), migration: m.id, version, result: x });
    }
  }

  /**
   * One evaluation: measure what is due, decide, act, and record it all. Throws ControllerStandby
   * when another controller holds the source's lease (nothing is measured or recorded then).
   */
  tick(): Promise<TickReport> {
    const next = this.inFlight.then(() => this.leasedTick());
    // The chain only orders ticks: a failed tick reaches its caller through `next`.
    this.inFlight = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async leasedTick(): Promise<TickReport> {
    const source = sourceName(this.options.source);
    const { granted, lease } = await acquireLease(this.options.db, source, this.identity, this.leaseMs);
    if (!granted) throw new ControllerStandby(source, lease);
    // A long tick (an ANN check over a large store, a slow webhook) keeps its lease alive; if it
    // is lost anyway, the fence before each write stops this tick.
    const renew = setInterval(
      () =>
        void acquireLease(this.options.db, source, this.identity, this.leaseMs).catch(
          warnAndContinue('renewing the controller lease during a tick', { source, holder: this.identity.holder }),
        ),
      this.leaseMs / 3,
    );
    try {
      return await this.evaluate();
    } finally {
      clearInterval(renew);
      if (!this.running) await this.release();
    }
  }

  /** Throws ControllerStandby unless this controller still holds the lease (see holdsLease). */
  private async fence(conn: Queryable = this.options.db): Promise<void> {
    const source = sourceName(this.options.source);
    if (!(await holdsLease(conn, source, this.identity.holder)))
      throw new ControllerStandby(source, await currentLease(this.options.db, source));
  }

  /** Gives up the lease (if held), so a standby controller takes over at once. */
  async release(): Promise<void> {
    // A failed release is no loss: the lease expires by itself.
    const source = sourceName(this.options.source);
    await releaseLease(this.options.db, source, this.identity.holder).catch(
      warnAndContinue('releasing the controller lease', { source, holder: this.identity.holder }),
    );
  }

  private async evaluate(): Promise<TickReport> {
    const m = await this.migration();
    const now = await this.now();
    await this.seed(m);
    const state: DecideState = { migration: m, watchCutover: this.options.watchCutover };
    const unmeasured = decideUnmeasured(state);
    if (unmeasured?.decision === 'complete' || unmeasured?.decision === 'stop') {
      // Said once: a controller that takes over (or a cron --once) after the end records nothing new.
      const [last] = await listTicks(this.options.db, m.id, 1);
      if (last && last.decision === unmeasured.decision && last.phase === m.phase && last.percent === m.percent)
        return { tick: last, migration: m, gates: [], done: true };
    }
    if (unmeasured) return this.finish(m, unmeasured.decision, unmeasured.reason, [], {});

    const gates = applicableGates(m, this.rollout, {
      candidateDims: this.profile(m.candidate).dims,
      imageInput: [m.candidate, m.control].some((n) => imageRefOf(this.profile(n)) !== undefined),
    });
    const { fresh, current } = await this.measureDue(m, gates, now);
    const measurements: Measurements = {
      gates,
      fresh,
      current,
      history: await verdictHistory(this.options.db, m.id),
      stepAgeMs: now.getTime() - new Date(m.updatedAt).getTime(),
      candidateRequests: countsRequests(m, this.rollout) ? await this.stepRequests(m) : undefined,
    };
    const decided = decide(state, measurements, this.rollout);
    if (decided.decision === 'rollback') return this.rollback(m, decided.reason, fresh, current);
    const alerts = await this.alerts(
      m,
      now,
      gates.map((gate) => ({ gate, result: current.find((r) => r.gate === gate.name)! })).filter((g) => g.result),
    );
    if (alerts?.rollback) return this.rollback(m, alerts.rollback.reason, fresh, current, alerts);
    const report =
      decided.decision === 'promote'
        ? await this.promote(m, decided.next!, decided.reason, fresh, current)
        : await this.finish(m, decided.decision, decided.reason, fresh, { gates: current }, current);
    return alerts ? { ...report, alerts } : report;
  }

  /**
   * The alert rules (and notify_on gates) of this tick; null when there are none or they are
   * off. A failure to evaluate them is logged, never a failed tick: alerts tell, gates decide.
   */
  private async alerts(
    m: MigrationState,
    now: Date,
    gates: Array<{ gate: Gate; result: GateResult }>,
  ): Promise<AlertReport | null> {
    const setting = this.options.alerts;
    if (setting === false) return null;
    const config = this.options.manifest.alerts;
    if (config.rules.length === 0 && !gates.some((g) => g.gate.notify_on.length > 0)) return null;
    try {
      return await evaluateAlerts({
        db: this.options.db,
        manifest: this.options.manifest,
        source: this.options.source,
        migration: m,
        activeProfile: setting?.activeProfile ?? m.control,
        evaluator: 'controller',
        now,
        gates,
        fetch: this.options.fetch,
        annOverlap: this.options.annOverlap,
      });
    } catch (error) {
      warnAndContinue('evaluating the alert rules', { migration: m.id })(error);
      return null;
    }
  }

  /** Requests the candidate served in this step (this state of the migration). */
  private async stepRequests(m: MigrationState): Promise<number> {
    const tag = { id: m.id, version: m.version };
    return (await readServingMetrics(this.options.db, m.candidate, { from: new Date(0), migration: tag })).requests;
  }

  /**
   * Measures the gates that are due; a gate measured within its interval (in this state, for
   * serving gates) keeps its result. Returns this tick's measurements and every gate's current one.
   */
  private async measureDue(
    m: MigrationState,
    gates: Gate[],
    now: Date,
  ): Promise<{ fresh: GateResult[]; current: GateResult[] }> {
    const measureCtx: MeasureContext = {
      db: this.options.db,
      source: this.options.source,
      control: this.profile(m.control),
      candidate: this.profile(m.candidate),
      migration: { id: m.id, version: m.version },
      migrationCreatedAt: new Date(m.createdAt),
      now,
      evalHistory: this.rollout.evalHistory,
      annQueries: this.rollout.annQueries,
      readiness: { maxQueueLagMs: this.rollout.maxQueueLag, minCoverage: this.rollout.minCoverage },
      offlineSince: m.phase === 'cutover' && m.cutoverAt ? new Date(m.cutoverAt) : undefined,
      windowStart: (gate) => {
        // Online windows start where the last judged one ended: ticks are an interval plus the
        // tick's own time apart, and traffic in between must not go unseen (a breaker trip in the
        // gap was never counted). Bounded, so one slow tick cannot reach far back.
        const last = this.cache.get(gate.name);
        const judgedTo = last?.migration === m.id && last.version === m.version ? last.judgedTo : undefined;
        // By tick: the step's traffic since the last verdict (the migration tag bounds it to the step).
        if (this.options.windowsByTick) return new Date(judgedTo ?? 0);
        if (judgedTo === undefined) return undefined;
        const plain = now.getTime() - gate.interval;
        return new Date(Math.max(now.getTime() - 3 * gate.interval, Math.min(plain, judgedTo)));
      },
      annOverlap: this.options.annOverlap ?? ((profile, queries) => annOverlap(this.options.db, profile, queries)),
    };
    const fresh: GateResult[] = [];
    const current: GateResult[] = [];
    for (const gate of gates) {
      const cached = this.cache.get(gate.name);
      const serving = isOnline(gate.metric) || isShadow(gate.metric);
      // A gate is measured once per its interval; one without data yet is asked again every tick.
      const stillValid =
        !this.options.windowsByTick &&
        cached &&
        cached.result.verdict !== 'no_data' &&
        cached.migration === m.id &&
        now.getTime() - cached.at < gate.interval &&
        (!serving || cached.version === m.version);
      if (stillValid) {
        current.push(cached.result);
        continue;
      }
      let result: GateResult;
      try {
        result = evaluateGate(gate, await measure(gate, measureCtx));
      } catch (error) {
        // A failed measurement says nothing about the candidate: no data, whatever the gate's policy.
        const message = error instanceof Error ? error.message : String(error);
        const missing = evaluateGate({ ...gate, no_data: 'hold' }, { candidate: null, control: null });
        result = { ...missing, reason: `measuring failed: ${message}; holding` };
      }
      const sameState = cached?.migration === m.id && cached.version === m.version;
      this.cache.set(gate.name, {
        at: now.getTime(),
        migration: m.id,
        version: m.version,
        result,
        judgedTo: result.verdict !== 'no_data' ? now.getTime() : sameState ? cached.judgedTo : undefined,
      });
      fresh.push(result);
      current.push(result);
    }
    return { fresh, current };
  }

  /** Asks the before_promotion webhook (if any), then makes the promotion decide() chose. */
  private async promote(
    m: MigrationState,
    next: Promotion,
    reason: string,
    fresh: GateResult[],
    current: GateResult[],
  ): Promise<TickReport> {
    const target = promotionTarget(next);
    if (this.rollout.webhooks.beforePromotion) {
      const hook = await postWebhook(
        this.rollout.webhooks.beforePromotion,
        { event: 'before_promotion', migration: m, to: next, gates: current },
        this.rollout.webhooks.timeout,
        this.options.fetch,
      );
      if (!hook.ok) {
        return this.finish(
          m,
          'hold',
          `the before_promotion webhook did not approve the move to ${target}: ${hook.error}`,
          fresh,
          { gates: current, webhook: hook },
          current,
        );
      }
    }
    let promoted: MigrationState;
    await this.fence();
    try {
      promoted =
        next.action === 'shadow'
          ? await shadowMigration(this.ctx, m, this.rollout.shadowSample)
          : next.action === 'ramp'
            ? await rampMigration(this.ctx, m, next.percent, { reason })
            : await cutoverMigration(this.ctx, m, { reason });
    } catch (error) {
      if (!(error instanceof ConcurrentChangeError || error instanceof TransitionRefusedError)) throw error;
      // A person moved the migration in between, or the lifecycle found the candidate not ready:
      // their word wins; the next tick reads the new state.
      return this.finish(
        m,
        'hold',
        `promotion to ${target} not made: ${error.message}`,
        fresh,
        { gates: current },
        current,
      );
    }
    return this.finish(m, 'promote', reason, fresh, { gates: current, from: m.percent, to: next }, current, promoted);
  }

  private async rollback(
    m: MigrationState,
    reason: string,
    fresh: GateResult[],
    current: GateResult[],
    alerts?: AlertReport,
  ): Promise<TickReport> {
    let rolled: MigrationState;
    await this.fence();
    try {
      rolled = await rollbackMigration(this.ctx, m, `controller: ${reason}`);
    } catch (error) {
      if (!(error instanceof ConcurrentChangeError || error instanceof TransitionRefusedError)) throw error;
      // A person changed the migration after it was measured: their state wins. The measurements
      // were of the old state, so nothing is rolled back on them; the next tick measures again.
      const now = await getMigration(this.options.db, m.id);
      const ended = rolloutEnded(now.phase);
      return this.finish(
        m,
        ended ? 'stop' : 'hold',
        `would roll back (${reason}), but the migration changed meanwhile (now ${now.phase} ${now.percent}%, version ${now.version}): ${ended ? 'nothing to control' : 'measuring again'}`,
        fresh,
        { gates: current },
        current,
        now,
      );
    }
    let webhook: unknown;
    if (this.rollout.webhooks.onRollback) {
      webhook = await postWebhook(
        this.rollout.webhooks.onRollback,
        { event: 'rollback', migration: rolled, reason, gates: current },
        this.rollout.webhooks.timeout,
        this.options.fetch,
      );
    }
    const report = await this.finish(m, 'rollback', reason, fresh, { gates: current, webhook }, current, rolled);
    return alerts ? { ...report, alerts } : report;
  }

  private async finish(
    m: MigrationState,
    decision: Decision,
    reason: string,
    fresh: GateResult[],
    details: Record<string, unknown>,
    current: GateResult[] = fresh,
    after: MigrationState = m,
  ): Promise<TickReport> {
    // The tick names the state the gates were measured in; the report carries the state after.
    const tick = await this.options.db.transaction(async (tx) => {
      await this.fence(tx);
      return recordTick(
        tx,
        { migrationId: m.id, phase: m.phase, percent: m.percent, decision, reason, details },
        fresh,
      );
    });
    const done = decision === 'complete' || decision === 'stop' || decision === 'rollback';
    return { tick, migration: after, gates: current, done };
  }

  /**
   * Ticks every `rollout.interval` until the rollout is complete or rolled back (or the signal
   * fires); returns the last tick.
   */
  async run(
    options: {
      signal?: AbortSignal;
      onTick?: (report: TickReport) => void;
      /** A tick that failed (the database unreachable, say): the loop waits an interval and goes on. */
      onError?: (error: unknown) => void;
      /** Another controller holds the lease: this one waits an interval and asks again. */
      onStandby?: (standby: ControllerStandby) => void;
    } = {},
  ): Promise<TickReport | null> {
    if (this.running)
      throw new ReembedError('CONTROLLER_RUNNING', 'this controller is already running: one run() at a time', {
        exitCode: 2,
      });
    let last: TickReport | null = null;
    this.running = true;
    try {
      for (;;) {
        try {
          last = await this.tick();
          options.onTick?.(last);
          if (last.done) return last;
        } catch (error) {
          if (error instanceof ControllerStandby) {
            options.onStandby?.(error);
          } else {
            // A configuration or a missing migration will not fix itself; anything else may.
            if (error instanceof ConfigError || error instanceof NoMigrationError) throw error;
            if (!options.onError) throw error;
            options.onError(error);
          }
        }
        if (options.signal?.aborted) return last;
        await sleepUnlessAborted(this.rollout.interval, options.signal);
        if (options.signal?.aborted) return last;
      }
    } finally {
      this.running = false;
      await this.release();
    }
  }
}

function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
