import type { Queryable } from '../db/database.js';
import { CONTROL_TABLE, WORKERS_TABLE } from './tables.js';

export interface ControlState {
  paused: boolean;
  /** Requests per minute for the profile across all workers; null: the profile's own limit. */
  rpm: number | null;
}

/** Pause, resume and throttle live in the database, so every worker obeys them without a restart. */
export async function setControl(
  conn: Queryable,
  profile: string,
  change: Partial<ControlState>,
  actor = 'cli',
): Promise<ControlState> {
  const { rows } = await conn.query<{ paused: boolean; rpm: number | null }>(
    `INSERT INTO ${CONTROL_TABLE} (profile, paused, rpm, updated_by) VALUES ($1, coalesce($2, false), $3, $5)
     ON CONFLICT (profile) DO UPDATE SET
       paused = coalesce($2, ${CONTROL_TABLE}.paused),
       rpm = CASE WHEN $4 THEN $3 ELSE ${CONTROL_TABLE}.rpm END,
       updated_at = now(), updated_by = $5
     RETURNING paused, rpm`,
    [profile, change.paused ?? null, change.rpm ?? null, 'rpm' in change, actor],
  );
  return rows[0]!;
}

export async function readControl(conn: Queryable, profiles: string[]): Promise<Map<string, ControlState>> {
  const { rows } = await conn.query<{ profile: string; paused: boolean; rpm: number | null }>(
    `SELECT profile, paused, rpm FROM ${CONTROL_TABLE} WHERE profile = ANY($1::text[])`,
    [profiles],
  );
  const map = new Map(profiles.map((p) => [p, { paused: false, rpm: null } as ControlState]));
  for (const r of rows) map.set(r.profile, { paused: r.paused, rpm: r.rpm });
  return map;
}

/** A worker as its heartbeat row says. */
export interface WorkerRecord {
  workerId: string;
  host: string;
  pid: number;
  profiles: string[];
  /** Seconds since its last heartbeat. */
  heartbeatAgeSeconds: number;
  rowsEmbedded: number;
  tokens: number;
  rateLimited: number;
  state: string;
  rowsPerSecond: number;
  uptimeSeconds: number;
  /** Rows embedded and rate-limit retries of each profile this worker serves. */
  byProfile: Record<string, { rowsEmbedded: number; rateLimited: number }>;
  /** Resident memory of the worker's process at its last heartbeat (null before the first). */
  rssBytes: number | null;
}

/** The workers rows matching `where` (over $1 and $2), in `order`. */
async function readWorkers(conn: Queryable, where: string, params: unknown[], order: string): Promise<WorkerRecord[]> {
  const { rows } = await conn.query<{
    worker_id: string;
    host: string;
    pid: number;
    profiles: string[];
    age: number;
    rows_embedded: string | number;
    tokens: string | number;
    rate_limited: string | number;
    state: string;
    uptime: number;
    by_profile: Record<string, { rows?: number; rateLimited?: number }> | string | null;
    rss_bytes: string | number | null;
  }>(
    `SELECT worker_id, host, pid, profiles, extract(epoch FROM clock_timestamp() - heartbeat_at)::float8 AS age,
            rows_embedded, tokens, rate_limited, state, extract(epoch FROM heartbeat_at - started_at)::float8 AS uptime,
            by_profile, rss_bytes
     FROM ${WORKERS_TABLE} WHERE ${where}
     ORDER BY ${order}`,
    params,
  );
  return rows.map((r) => ({
    workerId: r.worker_id,
    host: r.host,
    pid: r.pid,
    profiles: r.profiles,
    heartbeatAgeSeconds: Number(r.age),
    rowsEmbedded: Number(r.rows_embedded),
    tokens: Number(r.tokens),
    rateLimited: Number(r.rate_limited),
    state: r.state,
    // Over the worker's life up to its last heartbeat: a rate, not a snapshot of one batch.
    rowsPerSecond: Number(r.uptime) > 0 ? Number(r.rows_embedded) / Number(r.uptime) : 0,
    uptimeSeconds: Number(r.uptime),
    byProfile: perProfile(r.by_profile),
    rssBytes: r.rss_bytes === null ? null : Number(r.rss_bytes),
  }));
}

/** Workers whose heartbeat is recent, per profile: a throttle is shared among them. */
export function liveWorkers(conn: Queryable, staleSeconds: number): Promise<WorkerRecord[]> {
  return readWorkers(
    conn,
    `heartbeat_at > clock_timestamp() - make_interval(secs => $1) AND state <> 'stopped'`,
    [staleSeconds],
    'started_at',
  );
}

/** A worker that stopped without saying so (SIGKILL, a lost host): not stopped, no heartbeat for a while. */
export type GoneWorker = Pick<
  WorkerRecord,
  'workerId' | 'host' | 'pid' | 'profiles' | 'heartbeatAgeSeconds' | 'rowsEmbedded'
>;

/**
 * Workers whose last heartbeat is older than `staleSeconds` (and younger than `withinSeconds`)
 * and that never recorded a clean stop: killed or cut off. Their leases expire on their own, so
 * their work is not lost; this only tells an operator that a process is gone.
 */
export async function goneWorkers(
  conn: Queryable,
  staleSeconds: number,
  withinSeconds = 86_400,
): Promise<GoneWorker[]> {
  const gone = await readWorkers(
    conn,
    `heartbeat_at <= clock_timestamp() - make_interval(secs => $1)
       AND heartbeat_at > clock_timestamp() - make_interval(secs => $2) AND state <> 'stopped'`,
    [staleSeconds, withinSeconds],
    'heartbeat_at DESC',
  );
  return gone.map(({ workerId, host, pid, profiles, heartbeatAgeSeconds, rowsEmbedded }) => ({
    workerId,
    host,
    pid,
    profiles,
    heartbeatAgeSeconds,
    rowsEmbedded,
  }));
}

/** The worker's counts per profile (rows embedded, rate-limit retries), as its heartbeat wrote them. */
function perProfile(
  raw: Record<string, { rows?: number; rateLimited?: number }> | string | null,
): Record<string, { rowsEmbedded: number; rateLimited: number }> {
  const value =
    typeof raw === 'string' ? (JSON.parse(raw) as Record<string, { rows?: number; rateLimited?: number }>) : raw;
  return Object.fromEntries(
    Object.entries(value ?? {}).map(([name, c]) => [
      name,
      { rowsEmbedded: Number(c.rows ?? 0), rateLimited: Number(c.rateLimited ?? 0) },
    ]),
  );
}

/**
 * Provider tokens every backfill worker spent per profile (workers rows are kept after they
 * stop, so this is the whole history since workers counted tokens per profile);
 * `estimatedTokens` is the part without the provider's usage or an exact count.
 */
export async function backfillTokensByProfile(
  conn: Queryable,
): Promise<Map<string, { tokens: number; estimatedTokens: number }>> {
  const { rows } = await conn.query<{ profile: string; tokens: string | number; estimated: string | number }>(
    `SELECT p.key AS profile,
            coalesce(sum((p.value->>'tokens')::bigint), 0) AS tokens,
            coalesce(sum((p.value->>'estimatedTokens')::bigint), 0) AS estimated
     FROM ${WORKERS_TABLE} w, jsonb_each(w.by_profile) AS p
     GROUP BY p.key`,
  );
  return new Map(rows.map((r) => [r.profile, { tokens: Number(r.tokens), estimatedTokens: Number(r.estimated) }]));
}
