import type { Database } from '../db/database.js';
import { ConfigError } from '../errors.js';
import { MIGRATIONS_TABLE } from '../migration/tables.js';
import { SERVING_METRICS_TABLE } from './serving-metrics.js';

/** How long serving windows are kept unless configured (routers prune older ones). */
export const DEFAULT_SERVING_RETENTION_MS = 30 * 86_400_000;

/** Any stable number: one instance prunes at a time. */
export const PRUNE_LOCK_KEY = 7_345_112_003;

/**
 * Phases in which a controller may still measure a migration's windows (its gates count the
 * traffic of the current step, and --watch-cutover the traffic since cutover): their windows
 * are kept whatever their age.
 */
const MEASURED_PHASES = ['planned', 'backfilling', 'shadow', 'canary', 'cutover'];

export interface PruneOptions {
  /** Windows written (database clock) before this time are deleted… */
  olderThan: Date;
  /** …unless this is set: then they are only counted. */
  dryRun?: boolean;
}

export interface PruneResult {
  /** Windows deleted (with dryRun: that would be). */
  deleted: number;
  /** Windows older than the cut that are kept because their migration is still measured. */
  keptForActiveMigrations: number;
  /** Another instance was pruning: nothing was done. */
  skipped: boolean;
}

/**
 * Deletes the serving windows written before `olderThan`, except those of a migration that a
 * controller may still measure. One instance at a time (an advisory lock; the others skip).
 * The controller's own measurements and decisions are kept in its tables, so the audit trail
 * of a migration outlives its windows.
 */
export async function pruneServingMetrics(db: Database, options: PruneOptions): Promise<PruneResult> {
  return db.transaction(async (tx) => {
    const { rows: lock } = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
      PRUNE_LOCK_KEY,
    ]);
    if (!lock[0]!.locked) return { deleted: 0, keptForActiveMigrations: 0, skipped: true };
    const measured = `EXISTS (SELECT 1 FROM ${MIGRATIONS_TABLE} mg WHERE mg.id = m.migration_id AND mg.phase = ANY($2::text[]))`;
    const { rows: kept } = await tx.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM ${SERVING_METRICS_TABLE} m WHERE m.recorded_at < $1 AND ${measured}`,
      [options.olderThan, MEASURED_PHASES],
    );
    const keptForActiveMigrations = Number(kept[0]!.n);
    if (options.dryRun) {
      const { rows } = await tx.query<{ n: string | number }>(
        `SELECT count(*) AS n FROM ${SERVING_METRICS_TABLE} m WHERE m.recorded_at < $1 AND NOT ${measured}`,
        [options.olderThan, MEASURED_PHASES],
      );
      return { deleted: Number(rows[0]!.n), keptForActiveMigrations, skipped: false };
    }
    const result = await tx.query(
      `DELETE FROM ${SERVING_METRICS_TABLE} m WHERE m.recorded_at < $1 AND NOT ${measured}`,
      [options.olderThan, MEASURED_PHASES],
    );
    return { deleted: result.rowCount, keptForActiveMigrations, skipped: false };
  });
}

export interface RetentionOptions {
  /** Age (database clock) after which windows are deleted; 0 keeps them for ever. */
  retentionMs?: number;
  /** How often to prune (default hourly); the first prune runs at start. */
  everyMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * Prunes serving windows older than the retention now and then every `everyMs`, in the
 * background (the timer does not keep the process alive). Returns the function that stops it.
 */
export function startServingRetention(db: Database, options: RetentionOptions = {}): () => Promise<void> {
  const retentionMs = options.retentionMs ?? DEFAULT_SERVING_RETENTION_MS;
  if (!Number.isFinite(retentionMs) || retentionMs < 0) {
    throw new ConfigError(`serving metrics retention must be 0 (keep) or a positive number of ms, not ${retentionMs}`);
  }
  if (retentionMs === 0) return async () => {};
  let running: Promise<void> = Promise.resolve();
  const prune = () => {
    running = running
      .then(async () => {
        const { rows } = await db.query<{ cut: Date }>(
          `SELECT clock_timestamp() - make_interval(secs => $1::double precision / 1000) AS cut`,
          [retentionMs],
        );
        await pruneServingMetrics(db, { olderThan: rows[0]!.cut });
      })
      .catch((error: unknown) => options.onError?.(error));
  };
  prune();
  const timer = setInterval(prune, options.everyMs ?? 3_600_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
