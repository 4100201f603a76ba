/** `rb.alerts`: the alert rules evaluated once (`reembed watch`), and the recorded notifications. */
import { databaseNow } from '../db/clock.js';
import { ConfigError } from '../errors.js';
import { firingAlerts, listAlertEvents, type AlertEvent } from '../gates/alert-tables.js';
import { evaluateAlerts, type AlertReport } from '../gates/alerts.js';
import { migrationOrLatest } from '../migration/lifecycle.js';
import { rolloutEnded } from '../migration/phases.js';
import type { FacadeCore } from './core.js';

export interface AlertEvaluateOptions {
  /** The time of this evaluation (default: the database's clock, which stamps serving metrics). */
  now?: Date;
  /** Who is named as the evaluator in the stored events (default `library`). */
  evaluator?: string;
  fetch?: typeof fetch;
}

export interface AlertHistoryOptions {
  /** At most this many events, newest first (default 50). */
  limit?: number;
  /** Only the events of this migration (its id), or `''` for those outside any. */
  migration?: string;
}

/** What `reembed watch` and `GET /v1/alerts` report beside an evaluation: the rules firing now and recent events. */
export interface AlertHistoryReport {
  firing: Awaited<ReturnType<typeof firingAlerts>>;
  events: AlertEvent[];
}

/**
 * Evaluates every rule once, in the source's migration if one is in progress (else against the
 * active profile). Notifies, records; never rolls back (that is the controller's).
 */
export async function evaluate(core: FacadeCore, options: AlertEvaluateOptions = {}): Promise<AlertReport> {
  const ctx = await core.lifecycle();
  const m = await migrationOrLatest(ctx);
  const inProgress = m && !rolloutEnded(m.phase) ? m : null;
  return evaluateAlerts({
    db: ctx.db,
    manifest: core.manifest,
    source: ctx.source,
    migration: inProgress,
    // Without a migration the rules look at what serves: the environment's profile.
    activeProfile: inProgress ? inProgress.control : core.resolution().active,
    evaluator: options.evaluator ?? core.actor,
    now: options.now ?? (await databaseNow(ctx.db)),
    fetch: options.fetch,
  });
}

export async function history(core: FacadeCore, options: AlertHistoryOptions = {}): Promise<AlertHistoryReport> {
  const db = await core.database();
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`--limit must be a positive integer, got ${limit}`);
  return { firing: await firingAlerts(db), events: await listAlertEvents(db, { limit, scope: options.migration }) };
}
