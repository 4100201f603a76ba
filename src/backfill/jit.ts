/**
 * Just-in-time embedding, made visible: while the candidate is incomplete, a search served by
 * the control queues the returned documents the candidate lacks (router/hot-documents.ts,
 * queue priority JIT_PRIORITY). Each such request that a worker completes is recorded here with
 * the time it was first asked for, so status, the dashboard and the gates can say how many the
 * workers handle per minute and how long a user waits for one (the font runbook's cutover gate:
 * "the worker handles at least 10 items in under 5 minutes").
 */
import type { Migration } from '../db/migrations.js';
import type { Queryable } from '../db/database.js';
import { schemaObject } from '../db/identifiers.js';
import { QUEUE_TABLE } from '../source/capture.js';

/** One row per just-in-time request a worker completed (embedded, found current, or deleted). */
export const JIT_EMBEDDED_TABLE = schemaObject('jit_embedded');

export const jitMigrations: Migration[] = [
  {
    version: 26,
    name: 'just-in-time completions',
    sql: `
      CREATE TABLE ${JIT_EMBEDDED_TABLE} (
        profile text NOT NULL,
        requested_at timestamptz NOT NULL,
        embedded_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE INDEX jit_embedded_recent ON ${JIT_EMBEDDED_TABLE} (profile, embedded_at);`,
  },
];

/**
 * SQL of a data-modifying CTE body that records the just-in-time requests among the rows a
 * `DELETE … RETURNING profile, jit_requested_at` named `done` removed from the queue.
 */
export const RECORD_JIT_COMPLETIONS = `INSERT INTO ${JIT_EMBEDDED_TABLE} (profile, requested_at)
       SELECT profile, jit_requested_at FROM done WHERE jit_requested_at IS NOT NULL`;

/** What the workers did with the just-in-time requests of one profile over a window. */
export interface JitSummary {
  /** Requests still queued (not yet embedded), and how long the oldest has waited. */
  pending: number;
  oldestPendingSeconds: number | null;
  /** Requests completed in the window, and per minute of it. */
  completed: number;
  itemsPerMinute: number;
  /** From the first request to its completion, over the requests completed in the window (null without any). */
  timeToEmbedMs: { p50: number; p95: number; max: number } | null;
  window: { from: string; to: string };
}

/** The just-in-time requests of `profile` completed in [from, to] (database clock) and those still pending at `to`. */
export async function jitSummary(
  conn: Queryable,
  profile: string,
  range: { from: Date; to: Date },
): Promise<JitSummary> {
  const { rows } = await conn.query<{
    pending: string | number;
    oldest_s: number | null;
    completed: string | number;
    p50: number | null;
    p95: number | null;
    max: number | null;
  }>(
    `WITH done AS (
       SELECT extract(epoch FROM embedded_at - requested_at) * 1000 AS wait_ms
       FROM ${JIT_EMBEDDED_TABLE} WHERE profile = $1 AND embedded_at > $2 AND embedded_at <= $3
     ), waiting AS (
       SELECT jit_requested_at FROM ${QUEUE_TABLE} WHERE profile = $1 AND jit_requested_at IS NOT NULL
     )
     SELECT (SELECT count(*) FROM waiting) AS pending,
            (SELECT extract(epoch FROM $3::timestamptz - min(jit_requested_at))::float8 FROM waiting) AS oldest_s,
            (SELECT count(*) FROM done) AS completed,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms)::float8 FROM done) AS p50,
            (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_ms)::float8 FROM done) AS p95,
            (SELECT max(wait_ms)::float8 FROM done) AS max`,
    [profile, range.from, range.to],
  );
  const r = rows[0]!;
  const completed = Number(r.completed);
  const minutes = Math.max(range.to.getTime() - range.from.getTime(), 1) / 60_000;
  return {
    pending: Number(r.pending),
    oldestPendingSeconds: r.oldest_s === null ? null : Math.max(0, Number(r.oldest_s)),
    completed,
    itemsPerMinute: completed / minutes,
    timeToEmbedMs: completed > 0 ? { p50: Number(r.p50), p95: Number(r.p95), max: Number(r.max) } : null,
    window: { from: range.from.toISOString(), to: range.to.toISOString() },
  };
}

/**
 * The workers' just-in-time throughput under a backlog in [from, to] (the `jit.items_per_minute`
 * gate's; status does not pay for it): how long two requests or more were waiting at once, and
 * how many requests were embedded while another still waited. Requests that trickle in one at a
 * time show the workers' latency, not their throughput: they add nothing here.
 *
 * A sweep over the waits: each request adds one waiting from its first request (or the window's
 * start) and, once embedded, takes it away (a pending one waits to the window's end). At equal
 * times arrivals go first.
 */
export async function jitBacklog(
  conn: Queryable,
  profile: string,
  range: { from: Date; to: Date },
): Promise<{ seconds: number; completed: number }> {
  const { rows } = await conn.query<{ backlog_s: number | null; backlog_done: string | number | null }>(
    `WITH waits AS (
       SELECT greatest(requested_at, $2::timestamptz) AS s, embedded_at AS e
       FROM ${JIT_EMBEDDED_TABLE} WHERE profile = $1 AND embedded_at > $2 AND embedded_at <= $3
       UNION ALL
       SELECT greatest(jit_requested_at, $2::timestamptz), NULL
       FROM ${QUEUE_TABLE} WHERE profile = $1 AND jit_requested_at IS NOT NULL AND jit_requested_at <= $3
     ), events AS (
       SELECT s AS t, 1 AS delta FROM waits WHERE e IS NULL OR e >= s
       UNION ALL
       SELECT e, -1 FROM waits WHERE e IS NOT NULL AND e >= s
     ), swept AS (
       SELECT t, delta,
              sum(delta) OVER (ORDER BY t, delta DESC ROWS UNBOUNDED PRECEDING) AS waiting,
              lead(t) OVER (ORDER BY t, delta DESC) AS next_t
       FROM events
     )
     SELECT coalesce(sum(CASE WHEN waiting >= 2 THEN extract(epoch FROM coalesce(next_t, $3::timestamptz) - t) END), 0)::float8
              AS backlog_s,
            count(*) FILTER (WHERE delta = -1 AND waiting >= 1) AS backlog_done
     FROM swept`,
    [profile, range.from, range.to],
  );
  return { seconds: Number(rows[0]?.backlog_s ?? 0), completed: Number(rows[0]?.backlog_done ?? 0) };
}

/**
 * Forgets when the profile's queued items were first asked for (they stay queued, at their
 * priority). A migration of the profile that starts begins its just-in-time record afresh:
 * requests stamped under an earlier one (left queued when it was aborted, with no worker
 * embedding the profile since) would otherwise show waits of days and fail a healthy candidate's
 * time-to-embed gate.
 */
export async function clearJitRequests(conn: Queryable, profile: string): Promise<void> {
  await conn.query(
    `UPDATE ${QUEUE_TABLE} SET jit_requested_at = NULL WHERE profile = $1 AND jit_requested_at IS NOT NULL`,
    [profile],
  );
}

/** Deletes completions recorded before `olderThan` (kept as long as the serving windows). */
export async function pruneJitCompletions(conn: Queryable, olderThan: Date): Promise<number> {
  const { rows } = await conn.query<{ n: string | number }>(
    `WITH gone AS (DELETE FROM ${JIT_EMBEDDED_TABLE} WHERE embedded_at < $1 RETURNING 1) SELECT count(*) AS n FROM gone`,
    [olderThan],
  );
  return Number(rows[0]!.n);
}
