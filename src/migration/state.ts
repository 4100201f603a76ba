import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.js';
import { quoteLiteral } from '../db/sql.js';
import { ReembedError } from '../errors.js';
import { TERMINAL_PHASES, type Phase } from './phases.js';
import { EVENTS_TABLE, MIGRATIONS_TABLE, MIGRATION_CHANNEL } from './tables.js';
import { parseTargeting, type Targeting } from './targeting.js';

export interface MigrationState {
  id: string;
  source: string;
  control: string;
  candidate: string;
  phase: Phase;
  percent: number;
  shadowSample: number;
  version: number;
  createdAt: string;
  updatedAt: string;
  cutoverAt: string | null;
  finalizedAt: string | null;
  /** Segments switched on for the candidate, and the deny-list (targeting.ts). */
  targeting: Targeting;
}

export interface MigrationEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  fromPhase: Phase | null;
  toPhase: Phase;
  fromPercent: number | null;
  toPercent: number;
  reason: string | null;
  details: Record<string, unknown>;
}

/** Someone else changed the migration between our read and our write. */
export class ConcurrentChangeError extends ReembedError {
  constructor(id: string, expected: number) {
    super(
      'MIGRATION_CHANGED',
      `migration ${id} was changed by someone else (it is no longer at version ${expected}); read its status and try again`,
      {
        exitCode: 1,
        details: { id, expected },
      },
    );
  }
}

export class MigrationNotFoundError extends ReembedError {
  constructor(what: string) {
    super('MIGRATION_NOT_FOUND', what, { exitCode: 1 });
  }
}

type Row = {
  id: string;
  source: string;
  control_profile: string;
  candidate_profile: string;
  phase: Phase;
  percent: number;
  shadow_sample: number;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
  cutover_at: Date | string | null;
  finalized_at: Date | string | null;
  targeting: unknown;
};

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

function toState(r: Row): MigrationState {
  return {
    id: r.id,
    source: r.source,
    control: r.control_profile,
    candidate: r.candidate_profile,
    phase: r.phase,
    percent: r.percent,
    shadowSample: Number(r.shadow_sample),
    version: r.version,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    cutoverAt: iso(r.cutover_at),
    finalizedAt: iso(r.finalized_at),
    targeting: parseTargeting(r.targeting),
  };
}

const COLUMNS =
  'id, source, control_profile, candidate_profile, phase, percent, shadow_sample, version, created_at, updated_at, cutover_at, finalized_at, targeting';

export async function getMigration(conn: Queryable, id: string): Promise<MigrationState> {
  const { rows } = await conn.query<Row>(`SELECT ${COLUMNS} FROM ${MIGRATIONS_TABLE} WHERE id = $1`, [id]);
  if (!rows[0]) throw new MigrationNotFoundError(`no migration ${JSON.stringify(id)}`);
  return toState(rows[0]);
}

/**
 * The ended phases as an SQL list: a literal, like the predicate of the unique index on active
 * migrations (tables.ts), so the planner can use that index.
 */
const ENDED_SQL = TERMINAL_PHASES.map(quoteLiteral).join(', ');

/** The migration of a source that has not ended, if any. */
export async function activeMigration(conn: Queryable, source: string): Promise<MigrationState | null> {
  const { rows } = await conn.query<Row>(
    `SELECT ${COLUMNS} FROM ${MIGRATIONS_TABLE} WHERE source = $1 AND phase NOT IN (${ENDED_SQL})`,
    [source],
  );
  return rows[0] ? toState(rows[0]) : null;
}

/** The newest migration of a source, ended or not. */
export async function latestMigration(conn: Queryable, source: string): Promise<MigrationState | null> {
  const { rows } = await conn.query<Row>(
    `SELECT ${COLUMNS} FROM ${MIGRATIONS_TABLE} WHERE source = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
    [source],
  );
  return rows[0] ? toState(rows[0]) : null;
}

export interface EventInput {
  actor: string;
  action: string;
  reason?: string | null;
  details?: Record<string, unknown>;
}

async function recordEvent(
  conn: Queryable,
  id: string,
  from: MigrationState | null,
  to: MigrationState,
  event: EventInput,
): Promise<void> {
  await conn.query(
    `INSERT INTO ${EVENTS_TABLE} (migration_id, actor, action, from_phase, to_phase, from_percent, to_percent, reason, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      id,
      event.actor,
      event.action,
      from?.phase ?? null,
      to.phase,
      from?.percent ?? null,
      to.percent,
      event.reason ?? null,
      JSON.stringify(event.details ?? {}),
    ],
  );
  // Delivered at commit, to every LISTENing instance (a server); PGlite instances poll.
  await conn.query('SELECT pg_notify($1, $2)', [MIGRATION_CHANNEL, `${id}:${to.version}`]);
}

/** Creates a migration in phase `planned`; the unique index refuses a second active one. */
export async function createMigration(
  conn: Queryable,
  input: { source: string; control: string; candidate: string },
  event: EventInput,
): Promise<MigrationState> {
  const id = `m_${randomBytes(5).toString('hex')}`;
  let rows: Row[];
  try {
    ({ rows } = await conn.query<Row>(
      `INSERT INTO ${MIGRATIONS_TABLE} (id, source, control_profile, candidate_profile, phase) VALUES ($1, $2, $3, $4, 'planned') RETURNING ${COLUMNS}`,
      [id, input.source, input.control, input.candidate],
    ));
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw new ReembedError(
        'MIGRATION_ACTIVE',
        `source ${input.source} already has an active migration: finish, roll back or abort it first (reembed migrate status)`,
        {
          exitCode: 1,
        },
      );
    }
    throw error;
  }
  const state = toState(rows[0]!);
  await recordEvent(conn, id, null, state, event);
  return state;
}

export interface Change {
  phase: Phase;
  percent: number;
  shadowSample?: number;
  cutoverAt?: 'now';
  finalizedAt?: 'now';
  /** Replaces the targeting (absent: kept). */
  targeting?: Targeting;
}

/**
 * Applies a change only if the migration is still at `expected.version` (optimistic
 * concurrency): of two concurrent changes from the same version exactly one wins, the other
 * gets ConcurrentChangeError. Writes the audit event in the same transaction.
 */
export async function applyChange(
  conn: Queryable,
  expected: MigrationState,
  change: Change,
  event: EventInput,
): Promise<MigrationState> {
  const { rows } = await conn.query<Row>(
    `UPDATE ${MIGRATIONS_TABLE}
     SET phase = $3, percent = $4, shadow_sample = coalesce($5, shadow_sample), version = version + 1, updated_at = now(),
         cutover_at = CASE WHEN $6 THEN now() ELSE cutover_at END,
         finalized_at = CASE WHEN $7 THEN now() ELSE finalized_at END,
         targeting = coalesce($8::jsonb, targeting)
     WHERE id = $1 AND version = $2
     RETURNING ${COLUMNS}`,
    [
      expected.id,
      expected.version,
      change.phase,
      change.percent,
      change.shadowSample ?? null,
      change.cutoverAt === 'now',
      change.finalizedAt === 'now',
      change.targeting ? JSON.stringify(change.targeting) : null,
    ],
  );
  if (!rows[0]) throw new ConcurrentChangeError(expected.id, expected.version);
  const state = toState(rows[0]);
  await recordEvent(conn, expected.id, expected, state, event);
  return state;
}

export async function listEvents(conn: Queryable, id: string): Promise<MigrationEvent[]> {
  const { rows } = await conn.query<{
    id: string | number;
    at: Date | string;
    actor: string;
    action: string;
    from_phase: Phase | null;
    to_phase: Phase;
    from_percent: number | null;
    to_percent: number;
    reason: string | null;
    details: Record<string, unknown> | string;
  }>(
    `SELECT id, at, actor, action, from_phase, to_phase, from_percent, to_percent, reason, details FROM ${EVENTS_TABLE} WHERE migration_id = $1 ORDER BY id`,
    [id],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    at: iso(r.at)!,
    actor: r.actor,
    action: r.action,
    fromPhase: r.from_phase,
    toPhase: r.to_phase,
    fromPercent: r.from_percent,
    toPercent: r.to_percent,
    reason: r.reason,
    details: typeof r.details === 'string' ? (JSON.parse(r.details) as Record<string, unknown>) : r.details,
  }));
}
