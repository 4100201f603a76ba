import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';
import { ReembedError } from '../errors.js';

export const CONTROLLER_LEASES_TABLE = schemaObject('controller_leases');

/**
 * One controller at a time per source: every instance may embed a controller (or run
 * `reembed controller`, or `--once` from cron), and the one holding the lease decides while
 * the others stand by and take over when it stops renewing. Without it, each would measure
 * and record the same traffic, and a gate's failure count would grow once per instance.
 */
export const controllerLeaseMigrations: Migration[] = [
  {
    version: 8,
    name: 'controller leases',
    sql: `
      CREATE TABLE ${CONTROLLER_LEASES_TABLE} (
        source text PRIMARY KEY,
        holder text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        acquired_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        renewed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        expires_at timestamptz NOT NULL
      );`,
  },
];

export interface LeaseHolder {
  holder: string;
  host: string;
  pid: number;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
}

interface LeaseRow {
  holder: string;
  host: string;
  pid: number;
  acquired_at: Date | string;
  renewed_at: Date | string;
  expires_at: Date | string;
}

function toHolder(r: LeaseRow): LeaseHolder {
  const iso = (v: Date | string) => new Date(v).toISOString();
  return {
    holder: r.holder,
    host: r.host,
    pid: r.pid,
    acquiredAt: iso(r.acquired_at),
    renewedAt: iso(r.renewed_at),
    expiresAt: iso(r.expires_at),
  };
}

/**
 * Takes or renews the lease of `source` for `ttlMs` (on the database's clock): granted when no
 * one holds it, its holder is `me`, or the holder let it expire. Returns whether it was granted
 * and who holds it now.
 */
export async function acquireLease(
  db: Queryable,
  source: string,
  me: { holder: string; host: string; pid: number },
  ttlMs: number,
): Promise<{ granted: boolean; lease: LeaseHolder }> {
  for (let attempt = 1; ; attempt++) {
    const { rows } = await db.query<LeaseRow>(
      `INSERT INTO ${CONTROLLER_LEASES_TABLE} AS l (source, holder, host, pid, expires_at)
     VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5 / 1000.0))
     ON CONFLICT (source) DO UPDATE SET
       holder = EXCLUDED.holder, host = EXCLUDED.host, pid = EXCLUDED.pid,
       acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE clock_timestamp() END,
       renewed_at = clock_timestamp(), expires_at = EXCLUDED.expires_at
     WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp()
     RETURNING holder, host, pid, acquired_at, renewed_at, expires_at`,
      [source, me.holder, me.host, me.pid, ttlMs],
    );
    if (rows[0]) return { granted: true, lease: toHolder(rows[0]) };
    const current = await currentLease(db, source);
    // Released or expired between the two statements: try again (a few times; then it is held).
    if (current && (!current.expired || attempt >= 3)) return { granted: false, lease: current };
  }
}

/**
 * Whether `holder` holds the lease of `source` now. Run inside the transaction that records a
 * decision (FOR SHARE: a takeover waits for it), so a controller whose lease lapsed during a
 * long tick records nothing.
 */
export async function holdsLease(db: Queryable, source: string, holder: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM ${CONTROLLER_LEASES_TABLE}
     WHERE source = $1 AND holder = $2 AND expires_at > clock_timestamp() FOR SHARE`,
    [source, holder],
  );
  return rows.length > 0;
}

/** Gives the lease up, if `holder` has it: a standby takes over at its next attempt. */
export async function releaseLease(db: Queryable, source: string, holder: string): Promise<void> {
  await db.query(`DELETE FROM ${CONTROLLER_LEASES_TABLE} WHERE source = $1 AND holder = $2`, [source, holder]);
}

/** Who holds the lease of `source` and until when (expired leases included), or null. */
export async function currentLease(
  db: Queryable,
  source: string,
): Promise<(LeaseHolder & { expired: boolean }) | null> {
  const { rows } = await db.query<LeaseRow & { expired: boolean }>(
    `SELECT holder, host, pid, acquired_at, renewed_at, expires_at, expires_at < clock_timestamp() AS expired
     FROM ${CONTROLLER_LEASES_TABLE} WHERE source = $1`,
    [source],
  );
  return rows[0] ? { ...toHolder(rows[0]), expired: rows[0].expired } : null;
}

/**
 * Another controller holds the lease of the source (or took it over during this tick): this one
 * decided and recorded nothing.
 */
export class ControllerStandby extends ReembedError {
  constructor(
    readonly source: string,
    readonly lease: LeaseHolder | null,
  ) {
    super(
      'CONTROLLER_STANDBY',
      lease
        ? `another controller drives the rollout of ${source} (host ${lease.host}, pid ${lease.pid}; lease until ${lease.expiresAt})`
        : `this controller's lease of ${source} lapsed during its evaluation; nothing was decided`,
      { exitCode: 0, details: { source, lease } },
    );
  }
}
