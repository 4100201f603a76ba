/**
 * The rerank kill switch: `reembed rerank on|off` (or REEMBED_RERANK) writes it in the database,
 * and every router instance polls it (every 200 ms by default), so turning the rerank stage off
 * reaches every instance within a second, like a rollback. A profile's stage is off when its own
 * row or the row for every profile (`*`) says off; without rows it is on (its `percent` rules).
 */
import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';
import { warnAndContinue } from '../logger.js';
import { rerankCountsColumnsSql } from '../telemetry/serving-metrics.js';

export const RERANK_SWITCH_TABLE = schemaObject('rerank_switch');
/** The switch row that applies to every profile. */
export const ALL_PROFILES = '*';

export type RerankSwitchState = 'on' | 'off';

/**
 * Version 21 (the one the rerank stage was given) holds both of its changes: the switch table,
 * and the serving metrics' rerank counts (searches per arm, rank-1 changes, fallbacks, latency).
 */
export const rerankMigrations: Migration[] = [
  {
    version: 21,
    name: 'rerank stage',
    sql: `
      CREATE TABLE ${RERANK_SWITCH_TABLE} (
        profile text PRIMARY KEY,
        state text NOT NULL CHECK (state IN ('on', 'off')),
        actor text NOT NULL,
        reason text,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      ${rerankCountsColumnsSql()}`,
  },
];

export interface RerankSwitchRow {
  profile: string;
  state: RerankSwitchState;
  actor: string;
  reason: string | null;
  updatedAt: string;
}

export async function readRerankSwitches(conn: Queryable): Promise<RerankSwitchRow[]> {
  const { rows } = await conn.query<{
    profile: string;
    state: RerankSwitchState;
    actor: string;
    reason: string | null;
    updated_at: Date | string;
  }>(`SELECT profile, state, actor, reason, updated_at FROM ${RERANK_SWITCH_TABLE} ORDER BY profile`);
  return rows.map((r) => ({
    profile: r.profile,
    state: r.state,
    actor: r.actor,
    reason: r.reason,
    updatedAt: new Date(r.updated_at).toISOString(),
  }));
}

/** Sets the switch of one profile, or of every profile with `*`. */
export async function setRerankSwitch(
  conn: Queryable,
  profile: string,
  state: RerankSwitchState,
  by: { actor: string; reason?: string },
): Promise<void> {
  await conn.query(
    `INSERT INTO ${RERANK_SWITCH_TABLE} (profile, state, actor, reason) VALUES ($1, $2, $3, $4)
     ON CONFLICT (profile) DO UPDATE SET state = EXCLUDED.state, actor = EXCLUDED.actor,
       reason = EXCLUDED.reason, updated_at = clock_timestamp()`,
    [profile, state, by.actor, by.reason ?? null],
  );
}

/** The reason REEMBED_RERANK writes, by which a later start knows the switch was its own. */
export const ENVIRONMENT_REASON = 'REEMBED_RERANK';

/**
 * REEMBED_RERANK at a process's start, for every profile (`*`). `off` always applies: a kill
 * switch. `on` applies unless an operator switched every profile off explicitly (`reembed rerank
 * off`, the API): a deployment's environment must not undo a kill switch pulled during an
 * incident. Returns the state of the `*` row afterwards and whether this call set it.
 */
export async function applyEnvironmentSwitch(
  conn: Queryable,
  state: RerankSwitchState,
  actor: string,
): Promise<{ applied: boolean; state: RerankSwitchState; by?: { actor: string; reason: string | null } }> {
  const { rows } = await conn.query<{
    state: RerankSwitchState;
    actor: string;
    reason: string | null;
    applied: boolean;
  }>(
    `WITH upsert AS (
       INSERT INTO ${RERANK_SWITCH_TABLE} AS w (profile, state, actor, reason) VALUES ($1, $2, $3, $4)
       ON CONFLICT (profile) DO UPDATE SET state = EXCLUDED.state, actor = EXCLUDED.actor,
         reason = EXCLUDED.reason, updated_at = clock_timestamp()
       WHERE EXCLUDED.state = 'off' OR w.state = 'on' OR w.reason IS NOT DISTINCT FROM $4
       RETURNING state, actor, reason
     )
     SELECT state, actor, reason, true AS applied FROM upsert
     UNION ALL
     SELECT state, actor, reason, false FROM ${RERANK_SWITCH_TABLE} WHERE profile = $1 AND NOT EXISTS (SELECT 1 FROM upsert)`,
    [ALL_PROFILES, state, actor, ENVIRONMENT_REASON],
  );
  const r = rows[0]!;
  return { applied: r.applied, state: r.state, ...(r.applied ? {} : { by: { actor: r.actor, reason: r.reason } }) };
}

/** Off when the profile's row or the `*` row says off. */
export function switchedOff(rows: readonly Pick<RerankSwitchRow, 'profile' | 'state'>[], profile: string): boolean {
  return rows.some((r) => (r.profile === profile || r.profile === ALL_PROFILES) && r.state === 'off');
}

/**
 * Follows the switch for a router. Keeps the last rows it read, so a database blip does not
 * flip the stage; the first read failing leaves it on (its configured percent).
 */
export class RerankSwitchWatcher {
  private rows: RerankSwitchRow[] = [];
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private followUp?: Promise<void>;

  constructor(
    private readonly db: Queryable,
    private readonly options: { pollMs?: number; onError?: (error: unknown) => void } = {},
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.pollMs ?? 200);
    this.timer.unref();
  }

  off(profile: string): boolean {
    return switchedOff(this.rows, profile);
  }

  /**
   * Reads the switch now. One read at a time; a call during a read (say, just after the caller
   * set the switch) waits for one more read that starts after it, shared by every such call.
   */
  refresh(): Promise<void> {
    if (this.reading) {
      this.followUp ??= this.reading.then(() => {
        this.followUp = undefined;
        return this.refresh();
      });
      return this.followUp;
    }
    this.reading = (async () => {
      try {
        this.rows = await readRerankSwitches(this.db);
      } catch (error) {
        (this.options.onError ?? warnAndContinue('reading the rerank switch'))(error);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
