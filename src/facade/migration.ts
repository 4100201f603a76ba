import { countCoverage } from '../backfill/coverage.js';
import { currentLease, type LeaseHolder } from '../gates/lease.js';
import { latestMeasurements, listMeasurements, listTicks, type StoredMeasurement, type Tick } from '../gates/tables.js';
import { currentMigration, migrationOrLatest, sourceName, type LifecycleContext } from '../migration/lifecycle.js';
import { servingPercent } from '../migration/phases.js';
import { ConcurrentChangeError, listEvents, type MigrationEvent, type MigrationState } from '../migration/state.js';

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
    };

/** What `reembed migrate history` prints: the audit log and the controller's decisions. */
export type MigrationHistoryReport =
  | { migration: null; events: []; ticks: [] }
  | { migration: MigrationState; events: MigrationEvent[]; ticks: Tick[]; measurements?: StoredMeasurement[] };

export async function migrationStatus(ctx: LifecycleContext, id?: string): Promise<MigrationStatusReport> {
  const m = await migrationOrLatest(ctx, id);
  if (!m) return { migration: null };
  const coverage: Record<string, number | null> = {};
  for (const name of [m.control, m.candidate]) {
    const p = ctx.manifest.profiles.get(name);
    // A store that is not there (dropped by cleanup, never created) has no coverage to show.
    coverage[name] = p ? ((await countCoverage(ctx.db, ctx.source, p).catch(() => null))?.ratio ?? null) : null;
  }
  const [lastTick] = (await listTicks(ctx.db, m.id, 1)).slice(-1);
  const gates = await latestMeasurements(ctx.db, m.id);
  const lease = await currentLease(ctx.db, sourceName(ctx.source));
  const controller = lastTick || lease ? { lastTick: lastTick ?? null, gates, lease } : null;
  return { migration: m, servingPercent: servingPercent(m.phase, m.percent), coverage, controller };
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
  return { migration: m, events, ticks, ...(measurements ? { measurements } : {}) };
}
