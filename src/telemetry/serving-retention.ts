import { pruneJitCompletions } from '../backfill/jit.js';
import type { Database } from '../db/database.js';
import { ConfigError } from '../errors.js';
import { databaseTimeAgo } from '../db/clock.js';
import { MEASURED_PHASES } from '../migration/phases.js';
import { MIGRATIONS_TABLE } from '../migration/tables.js';
import { SERVING_METRICS_TABLE } from './serving-metrics.js';
import { warnAndContinue } from '../logger.js';

/** How long serving windows are kept unless configured (routers prune older ones). */
export const DEFAULT_SERVING_RETENTION_MS = 30 * 86_400_000;

/** Any stable number: one instance prunes at a time. */
export const PRUNE_LOCK_KEY = 7_345_112_003;

/** Rows deleted per statement: a first prune after an upgrade may have months of windows. */
const PRUNE_BATCH = 10_000;

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
 * controller may still measure, in batches (each its own statement, so a large first prune
 * holds no long transaction). One instance at a time (a session advisory lock; the others skip).
 * The controller's own measurements and decisions are kept in its tables, so the audit trail
 * of a migration outlives its windows.
 */
export async function pruneServingMetrics(db: Database, options: PruneOptions): Promise<PruneResult> {
  return db.session(async (conn) => {
    const { rows: lock } = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      PRUNE_LOCK_KEY,
    ]);
    if (!lock[0]!.locked) return { deleted: 0, keptForActiveMigrations: 0, skipped: true };
    try {
      const measured = `EXISTS (SELECT 1 FROM ${MIGRATIONS_TABLE} mg WHERE mg.id = m.migration_id AND mg.phase = ANY($2::text[]))`;
      // A controller may still measure the windows of a migration in these phases: they are kept
      // whatever their age.
      const params = [options.olderThan, MEASURED_PHASES];
      const count = async (which: string) => {
        const { rows } = await conn.query<{ n: string | number }>(
          `SELECT count(*) AS n FROM ${SERVING_METRICS_TABLE} m WHERE m.recorded_at < $1 AND ${which}`,
          params,
        );
        return Number(rows[0]!.n);
      };
      const keptForActiveMigrations = await count(measured);
      if (options.dryRun) return { deleted: await count(`NOT ${measured}`), keptForActiveMigrations, skipped: false };
      let deleted = 0;
      for (;;) {
        const result = await conn.query(
          `DELETE FROM ${SERVING_METRICS_TABLE} WHERE ctid IN (
             SELECT ctid FROM ${SERVING_METRICS_TABLE} m WHERE m.recorded_at < $1 AND NOT ${measured} LIMIT ${PRUNE_BATCH})`,
          params,
        );
        deleted += result.rowCount;
        if (result.rowCount < PRUNE_BATCH) break;
      }
      // Just-in-time completions are serving-side records too, kept as long as the windows.
      await pruneJitCompletions(conn, options.olderThan);
      return { deleted, keptForActiveMigrations, skipped: false };
    } finally {
      await conn
        .query('SELECT pg_advisory_unlock($1)', [PRUNE_LOCK_KEY])
        .catch(warnAndContinue('unlocking the serving-metrics retention lock'));
    }
  });
}

/** Throws a ConfigError unless `ms` is 0 (keep for ever) or a positive number of milliseconds. */
export function checkRetentionMs(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new ConfigError(`serving metrics retention must be 0 (keep) or a positive number of ms, not ${ms}`);
  }
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
  checkRetentionMs(retentionMs);
  if (retentionMs === 0) return async () => {};
  let running: Promise<void> = Promise.resolve();
  const prune = () => {
    running = running
      .then(async () => {
        await pruneServingMetrics(db, { olderThan: await databaseTimeAgo(db, retentionMs) });
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
