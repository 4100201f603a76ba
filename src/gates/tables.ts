import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';
import { MIGRATIONS_TABLE } from '../migration/tables.js';
import type { GateResult, Verdict } from './evaluate.js';

export const TICKS_TABLE = schemaObject('controller_ticks');
export const MEASUREMENTS_TABLE = schemaObject('gate_measurements');

/** Every evaluation of the controller and every measurement it decided on. */
export const gateMigrations: Migration[] = [
  {
    version: 7,
    name: 'controller ticks and gate measurements',
    sql: `
      CREATE TABLE ${TICKS_TABLE} (
        id bigserial PRIMARY KEY,
        migration_id text NOT NULL REFERENCES ${MIGRATIONS_TABLE} (id) ON DELETE CASCADE,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        phase text NOT NULL,
        percent integer NOT NULL,
        decision text NOT NULL CHECK (decision IN ('promote', 'hold', 'rollback', 'complete', 'stop')),
        reason text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX controller_ticks_by_migration ON ${TICKS_TABLE} (migration_id, id);
      CREATE TABLE ${MEASUREMENTS_TABLE} (
        id bigserial PRIMARY KEY,
        tick_id bigint NOT NULL REFERENCES ${TICKS_TABLE} (id) ON DELETE CASCADE,
        migration_id text NOT NULL,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        gate text NOT NULL,
        metric text NOT NULL,
        candidate double precision,
        control double precision,
        condition text NOT NULL,
        verdict text NOT NULL CHECK (verdict IN ('pass', 'fail', 'no_data')),
        reason text NOT NULL,
        details jsonb
      );
      CREATE INDEX gate_measurements_by_gate ON ${MEASUREMENTS_TABLE} (migration_id, gate, id);`,
  },
];

export type Decision = 'promote' | 'hold' | 'rollback' | 'complete' | 'stop';

export interface Tick {
  id: string;
  migrationId: string;
  at: string;
  phase: string;
  percent: number;
  decision: Decision;
  reason: string;
  details: Record<string, unknown>;
}

export interface StoredMeasurement extends GateResult {
  tickId: string;
  at: string;
}

export async function recordTick(
  conn: Queryable,
  tick: Omit<Tick, 'id' | 'at'>,
  measured: readonly GateResult[],
): Promise<Tick> {
  const { rows } = await conn.query<{ id: string; at: Date | string }>(
    `INSERT INTO ${TICKS_TABLE} (migration_id, phase, percent, decision, reason, details)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id, at`,
    [tick.migrationId, tick.phase, tick.percent, tick.decision, tick.reason, JSON.stringify(tick.details)],
  );
  const id = String(rows[0]!.id);
  for (const r of measured) {
    await conn.query(
      `INSERT INTO ${MEASUREMENTS_TABLE} (tick_id, migration_id, gate, metric, candidate, control, condition, verdict, reason, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
      [
        id,
        tick.migrationId,
        r.gate,
        r.metric,
        r.candidate,
        r.control,
        r.condition,
        r.verdict,
        r.reason,
        r.details ? JSON.stringify(r.details) : null,
      ],
    );
  }
  return { ...tick, id, at: new Date(rows[0]!.at).toISOString() };
}

type TickRow = {
  id: string;
  migration_id: string;
  at: Date | string;
  phase: string;
  percent: number;
  decision: Decision;
  reason: string;
  details: Record<string, unknown> | string;
};

function toTick(r: TickRow): Tick {
  return {
    id: String(r.id),
    migrationId: r.migration_id,
    at: new Date(r.at).toISOString(),
    phase: r.phase,
    percent: r.percent,
    decision: r.decision,
    reason: r.reason,
    details: typeof r.details === 'string' ? (JSON.parse(r.details) as Record<string, unknown>) : r.details,
  };
}

/** A migration's ticks, oldest first: all of them, or the newest `limit`. */
export async function listTicks(conn: Queryable, migrationId: string, limit?: number): Promise<Tick[]> {
  const { rows } = await conn.query<TickRow>(
    `SELECT * FROM (SELECT * FROM ${TICKS_TABLE} WHERE migration_id = $1 ORDER BY id DESC LIMIT $2) t ORDER BY id`,
    [migrationId, limit ?? null],
  );
  return rows.map(toTick);
}

type MeasurementRow = {
  tick_id: string;
  at: Date | string;
  gate: string;
  metric: GateResult['metric'];
  candidate: number | null;
  control: number | null;
  condition: string;
  verdict: Verdict;
  reason: string;
  details: Record<string, unknown> | string | null;
};

function toMeasurement(r: MeasurementRow): StoredMeasurement {
  return {
    tickId: String(r.tick_id),
    at: new Date(r.at).toISOString(),
    gate: r.gate,
    metric: r.metric,
    candidate: r.candidate === null ? null : Number(r.candidate),
    control: r.control === null ? null : Number(r.control),
    condition: r.condition,
    verdict: r.verdict,
    reason: r.reason,
    details:
      r.details === null
        ? undefined
        : typeof r.details === 'string'
          ? (JSON.parse(r.details) as Record<string, unknown>)
          : r.details,
  };
}

/** Measurements of a migration, oldest first (optionally of one tick). */
export async function listMeasurements(
  conn: Queryable,
  migrationId: string,
  options: { tickId?: string } = {},
): Promise<StoredMeasurement[]> {
  const { rows } = await conn.query<MeasurementRow>(
    `SELECT tick_id, at, gate, metric, candidate, control, condition, verdict, reason, details
     FROM ${MEASUREMENTS_TABLE} WHERE migration_id = $1 AND ($2::bigint IS NULL OR tick_id = $2::bigint) ORDER BY id`,
    [migrationId, options.tickId ?? null],
  );
  return rows.map(toMeasurement);
}

/** The newest measurement of each gate of a migration. */
export async function latestMeasurements(conn: Queryable, migrationId: string): Promise<StoredMeasurement[]> {
  const { rows } = await conn.query<MeasurementRow>(
    `SELECT DISTINCT ON (gate) tick_id, at, gate, metric, candidate, control, condition, verdict, reason, details
     FROM ${MEASUREMENTS_TABLE} WHERE migration_id = $1 ORDER BY gate, id DESC`,
    [migrationId],
  );
  return rows.map(toMeasurement);
}

/** Every verdict of each gate in a migration, oldest first. */
export async function verdictHistory(conn: Queryable, migrationId: string): Promise<Map<string, Verdict[]>> {
  const { rows } = await conn.query<{ gate: string; verdict: Verdict }>(
    `SELECT gate, verdict FROM ${MEASUREMENTS_TABLE} WHERE migration_id = $1 ORDER BY id`,
    [migrationId],
  );
  const byGate = new Map<string, Verdict[]>();
  for (const r of rows) {
    let list = byGate.get(r.gate);
    if (!list) byGate.set(r.gate, (list = []));
    list.push(r.verdict);
  }
  return byGate;
}
