import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';
import type { WebhookResult } from './webhook.js';
import { INACTIVE, type AlertPhase, type AlertState, type AlertTransition } from './alert-state.js';

export const ALERT_STATE_TABLE = schemaObject('alert_state');
export const ALERT_EVENTS_TABLE = schemaObject('alert_events');

/**
 * Each rule's state (one row per rule and scope, locked while an evaluator steps it, so two
 * evaluators notify a transition once) and every notification with its delivery results.
 */
export const alertMigrations: Migration[] = [
  {
    version: 14,
    name: 'alert state and events',
    sql: `
      CREATE TABLE ${ALERT_STATE_TABLE} (
        rule text PRIMARY KEY,
        -- the migration the rule was last evaluated in, or '' without an active one: a new
        -- migration starts the rule afresh (its for: and its rollback do not carry over)
        scope text NOT NULL,
        phase text NOT NULL CHECK (phase IN ('inactive', 'pending', 'firing')),
        since timestamptz,
        fired_at timestamptz,
        notified_at timestamptz,
        value double precision,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE TABLE ${ALERT_EVENTS_TABLE} (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        rule text NOT NULL,
        scope text NOT NULL,
        severity text NOT NULL,
        transition text NOT NULL CHECK (transition IN ('firing', 'resolved', 'repeat')),
        value double precision,
        summary text NOT NULL,
        -- who evaluated it (controller, watch, library), the profile, the condition
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        -- one result per webhook: {url, format, ok, status, error}; null until delivered
        deliveries jsonb
      );
      CREATE INDEX alert_events_by_time ON ${ALERT_EVENTS_TABLE} (at DESC, id DESC);`,
  },
];

export interface AlertEvent {
  id: string;
  at: string;
  rule: string;
  /** The migration id, or '' when none was active. */
  scope: string;
  severity: string;
  transition: AlertTransition;
  value: number | null;
  summary: string;
  details: Record<string, unknown>;
  deliveries: Array<WebhookResult & { url: string; format: string }> | null;
}

interface StateRow {
  phase: AlertPhase;
  since: Date | string | null;
  fired_at: Date | string | null;
  notified_at: Date | string | null;
}

const ms = (t: Date | string | null): number | null => (t === null ? null : new Date(t).getTime());
const ts = (t: number | null): Date | null => (t === null ? null : new Date(t));

/**
 * The rule's state and the scope it was evaluated in, its row locked until the transaction ends
 * (created inactive, in `scope`, if missing).
 */
export async function lockAlertState(
  tx: Queryable,
  rule: string,
  scope: string,
): Promise<{ state: AlertState; scope: string }> {
  await tx.query(
    `INSERT INTO ${ALERT_STATE_TABLE} (rule, scope, phase) VALUES ($1, $2, 'inactive') ON CONFLICT DO NOTHING`,
    [rule, scope],
  );
  const { rows } = await tx.query<StateRow & { scope: string }>(
    `SELECT phase, scope, since, fired_at, notified_at FROM ${ALERT_STATE_TABLE} WHERE rule = $1 FOR UPDATE`,
    [rule],
  );
  const r = rows[0];
  if (!r) return { state: INACTIVE, scope };
  return {
    state: { phase: r.phase, since: ms(r.since), firedAt: ms(r.fired_at), notifiedAt: ms(r.notified_at) },
    scope: r.scope,
  };
}

export async function saveAlertState(
  tx: Queryable,
  rule: string,
  scope: string,
  state: AlertState,
  value: number | null,
): Promise<void> {
  await tx.query(
    `UPDATE ${ALERT_STATE_TABLE} SET scope = $2, phase = $3, since = $4, fired_at = $5, notified_at = $6, value = $7,
       updated_at = clock_timestamp()
     WHERE rule = $1`,
    [rule, scope, state.phase, ts(state.since), ts(state.firedAt), ts(state.notifiedAt), value],
  );
}

export async function insertAlertEvent(tx: Queryable, e: Omit<AlertEvent, 'id' | 'deliveries'>): Promise<AlertEvent> {
  const { rows } = await tx.query<{ id: string | number }>(
    `INSERT INTO ${ALERT_EVENTS_TABLE} (at, rule, scope, severity, transition, value, summary, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) RETURNING id`,
    [new Date(e.at), e.rule, e.scope, e.severity, e.transition, e.value, e.summary, JSON.stringify(e.details)],
  );
  return { ...e, id: String(rows[0]!.id), deliveries: null };
}

export async function recordDeliveries(
  conn: Queryable,
  id: string,
  deliveries: NonNullable<AlertEvent['deliveries']>,
): Promise<void> {
  await conn.query(`UPDATE ${ALERT_EVENTS_TABLE} SET deliveries = $2::jsonb WHERE id = $1`, [
    id,
    JSON.stringify(deliveries),
  ]);
}

interface EventRow {
  id: string | number;
  at: Date | string;
  rule: string;
  scope: string;
  severity: string;
  transition: AlertTransition;
  value: number | null;
  summary: string;
  details: Record<string, unknown> | string;
  deliveries: AlertEvent['deliveries'] | string | null;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/** The newest alert events first (optionally of one migration's scope). */
export async function listAlertEvents(
  conn: Queryable,
  options: { limit?: number; scope?: string } = {},
): Promise<AlertEvent[]> {
  const { rows } = await conn.query<EventRow>(
    `SELECT id, at, rule, scope, severity, transition, value, summary, details, deliveries
     FROM ${ALERT_EVENTS_TABLE} WHERE ($2::text IS NULL OR scope = $2)
     ORDER BY at DESC, id DESC LIMIT $1`,
    [options.limit ?? 50, options.scope ?? null],
  );
  return rows.map((r) => ({
    id: String(r.id),
    at: new Date(r.at).toISOString(),
    rule: r.rule,
    scope: r.scope,
    severity: r.severity,
    transition: r.transition,
    value: r.value === null ? null : Number(r.value),
    summary: r.summary,
    details: json(r.details),
    deliveries: r.deliveries === null ? null : json(r.deliveries),
  }));
}

/** Rules firing now (any scope), for status reports. */
export async function firingAlerts(
  conn: Queryable,
): Promise<Array<{ rule: string; scope: string; since: string | null; firedAt: string | null; value: number | null }>> {
  const { rows } = await conn.query<{
    rule: string;
    scope: string;
    since: Date | string | null;
    fired_at: Date | string | null;
    value: number | null;
  }>(`SELECT rule, scope, since, fired_at, value FROM ${ALERT_STATE_TABLE} WHERE phase = 'firing' ORDER BY rule`);
  return rows.map((r) => ({
    rule: r.rule,
    scope: r.scope,
    since: r.since === null ? null : new Date(r.since).toISOString(),
    firedAt: r.fired_at === null ? null : new Date(r.fired_at).toISOString(),
    value: r.value === null ? null : Number(r.value),
  }));
}
