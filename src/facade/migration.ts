import { registeredFingerprint } from '../store/registry.js';
import { bucket } from '../router/bucket.js';
import { deniedSubject, segmentOf } from '../migration/targeting.js';
import { routeFor } from '../router/routing.js';
import { countCoverage } from '../backfill/coverage.js';
import { currentLease, type LeaseHolder } from '../gates/lease.js';
import { firingAlerts, listAlertEvents, type AlertEvent } from '../gates/alert-tables.js';
import { latestMeasurements, listMeasurements, listTicks, type StoredMeasurement, type Tick } from '../gates/tables.js';
import * as lifecycle from '../migration/lifecycle.js';
import { currentMigration, migrationOrLatest, sourceName, type LifecycleContext } from '../migration/lifecycle.js';
import { servingPercent } from '../migration/phases.js';
import { ConcurrentChangeError, listEvents, type MigrationEvent, type MigrationState } from '../migration/state.js';
import type { FacadeCore } from './core.js';

/** Which migration to act on: an id (default: the source's active one) and an optimistic lock. */
export interface MigrationTarget {
  id?: string;
  /** Act only if the migration is still at this version (else ConcurrentChangeError). */
  expectVersion?: number;
}

/** A migration id, or a target with an expected version. */
export type MigrationTargetInput = string | MigrationTarget | undefined;

export function toTarget(input: MigrationTargetInput): MigrationTarget {
  return typeof input === 'string' ? { id: input } : (input ?? {});
}

/** The migration to act on, checked against the expected version (a script's optimistic lock). */
export async function targetMigration(ctx: LifecycleContext, input: MigrationTargetInput): Promise<MigrationState> {
  const target = toTarget(input);
  const m = await currentMigration(ctx, target.id);
  if (target.expectVersion !== undefined && m.version !== target.expectVersion)
    throw new ConcurrentChangeError(m.id, target.expectVersion);
  return m;
}

/** What `reembed migrate status` prints. */
export type MigrationStatusReport =
  | { migration: null }
  | {
      migration: MigrationState;
      /** The share of searches the candidate serves now. */
      servingPercent: number;
      /** Coverage ratio of the control's and the candidate's stores (null: no store). */
      coverage: Record<string, number | null>;
      /** The controller's last decision, latest gate measurements and lease (null: never ran). */
      controller: {
        lastTick: Tick | null;
        gates: StoredMeasurement[];
        lease: (LeaseHolder & { expired: boolean }) | null;
      } | null;
      /** Alert rules firing now and this migration's latest alert notifications (newest first). */
      alerts: { firing: Awaited<ReturnType<typeof firingAlerts>>; recent: AlertEvent[] };
    };

/** What `reembed migrate history` prints: the audit log and the controller's decisions. */
export type MigrationHistoryReport =
  | { migration: null; events: []; ticks: [] }
  | {
      migration: MigrationState;
      events: MigrationEvent[];
      ticks: Tick[];
      measurements?: StoredMeasurement[];
      /** The alert notifications sent during this migration, newest first. */
      alerts: AlertEvent[];
    };

export async function migrationStatus(ctx: LifecycleContext, id?: string): Promise<MigrationStatusReport> {
  const m = await migrationOrLatest(ctx, id);
  if (!m) return { migration: null };
  const coverage: Record<string, number | null> = {};
  for (const name of [m.control, m.candidate]) {
    const p = ctx.manifest.profiles.get(name);
    // A store that is not there (dropped by cleanup, never created) has no coverage to show;
    // any other failure to count is an error, not a silent "no store".
    const store = p ? await registeredFingerprint(ctx.db, name) : null;
    coverage[name] = p && store?.present ? (await countCoverage(ctx.db, ctx.source, p)).ratio : null;
  }
  const [lastTick] = (await listTicks(ctx.db, m.id, 1)).slice(-1);
  const gates = await latestMeasurements(ctx.db, m.id);
  const lease = await currentLease(ctx.db, sourceName(ctx.source));
  const controller = lastTick || lease ? { lastTick: lastTick ?? null, gates, lease } : null;
  const alerts = {
    firing: await firingAlerts(ctx.db),
    recent: await listAlertEvents(ctx.db, { scope: m.id, limit: 5 }),
  };
  return { migration: m, servingPercent: servingPercent(m.phase, m.percent), coverage, controller, alerts };
}

export async function migrationHistory(
  ctx: LifecycleContext,
  id?: string,
  options: { measurements?: boolean } = {},
): Promise<MigrationHistoryReport> {
  const m = await migrationOrLatest(ctx, id);
  if (!m) return { migration: null, events: [], ticks: [] };
  const events = await listEvents(ctx.db, m.id);
  const ticks = await listTicks(ctx.db, m.id);
  const measurements = options.measurements ? await listMeasurements(ctx.db, m.id) : undefined;
  const alerts = await listAlertEvents(ctx.db, { scope: m.id, limit: 200 });
  return { migration: m, events, ticks, ...(measurements ? { measurements } : {}), alerts };
}

type ForceOptions = { force?: boolean; reason?: string; maxQueueLagMs?: number };
type RampOptions = ForceOptions & { segment?: string };

/** The facade's `migration` methods but the controller: each acts on the target, by the lifecycle's rules. */
export function migrationMethods(core: FacadeCore) {
  const ctx = () => core.lifecycle();
  const run = async <T>(target: MigrationTargetInput, fn: (c: LifecycleContext, m: MigrationState) => Promise<T>) => {
    const c = await ctx();
    return fn(c, await targetMigration(c, target));
  };
  return {
    plan: async (to: string, from?: string): Promise<lifecycle.PlanResult> => {
      const control = core.profile(from ?? core.resolution().active).name;
      core.profile(to);
      return lifecycle.planMigration(await ctx(), control, to);
    },
    start: (target?: MigrationTargetInput) => run(target, (c, m) => lifecycle.startMigration(c, m)),
    shadow: (sample: number, target?: MigrationTargetInput) =>
      run(target, (c, m) => lifecycle.shadowMigration(c, m, sample)),
    ramp: (percent: number | null, force?: RampOptions, target?: MigrationTargetInput) =>
      run(target, (c, m) => lifecycle.rampMigration(c, m, percent, force)),
    cutover: (force?: ForceOptions, target?: MigrationTargetInput) =>
      run(target, (c, m) => lifecycle.cutoverMigration(c, m, force)),
    finalize: (target?: MigrationTargetInput) => run(target, (c, m) => lifecycle.finalizeMigration(c, m)),
    cleanup: (olderThanMs: number, target?: MigrationTargetInput) =>
      run(target, (c, m) => lifecycle.cleanupMigration(c, m, olderThanMs)),
    rollback: (reason: string, opts: { force?: boolean; id?: string; expectVersion?: number } = {}) =>
      run({ id: opts.id, expectVersion: opts.expectVersion }, (c, m) =>
        lifecycle.rollbackMigration(c, m, reason, { force: opts.force }),
      ),
    abort: (reason: string, target?: MigrationTargetInput) =>
      run(target, (c, m) => lifecycle.abortMigration(c, m, reason)),
    status: async (id?: string) => migrationOrLatest(await ctx(), id),
    statusReport: async (id?: string) => migrationStatus(await ctx(), id),
    history: async (id?: string): Promise<MigrationEvent[]> => {
      const c = await ctx();
      const m = await migrationOrLatest(c, id);
      return m ? listEvents(c.db, m.id) : [];
    },
    historyReport: async (id?: string, opts?: { measurements?: boolean }) => migrationHistory(await ctx(), id, opts),
    bucket: async (subject: string, id?: string): Promise<BucketReport> => {
      const c = await ctx();
      const m = await migrationOrLatest(c, id);
      const route = routeFor(m, subject, core.resolution().active);
      return {
        subject,
        bucket: m ? (bucket(m.id, subject) ?? null) : null,
        migration: m ? { id: m.id, phase: m.phase, percent: m.percent } : null,
        segment: m ? segmentOf(m.targeting, subject) : null,
        denied: m ? deniedSubject(m.targeting, subject) : false,
        servedBy: route.serving,
        candidateServes: route.candidateChosen,
      };
    },
  };
}

/** `reembed migrate bucket`: a subject's canary bucket (1..100) in the migration, and who serves it now. */
export interface BucketReport {
  subject: string;
  /** null without a migration, or for an empty subject (it always goes to the control). */
  bucket: number | null;
  migration: { id: string; phase: string; percent: number } | null;
  /** The switched-on segment the subject is in (it gets the candidate whatever its bucket), or null. */
  segment: string | null;
  /** On the deny-list: never the candidate while in canary. */
  denied: boolean;
  servedBy: string;
  candidateServes: boolean;
}
