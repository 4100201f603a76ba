import type { Queryable } from '../db/database.js';
import { QUEUE_TABLE } from '../source/capture.js';
import { FAILURES_TABLE } from './tables.js';

export interface Failure {
  profile: string;
  docId: string;
  errorClass: string;
  message: string;
  attempts: number;
  failedAt: string;
}

/**
 * Moves items to the dead-letter table: they wait for `failures retry`. A queue item leaves the
 * queue only at the version that failed (`version`); a newer change queued meanwhile stays,
 * with its own attempts, since its text may embed fine.
 */
export async function recordFailures(
  conn: Queryable,
  profile: string,
  items: Array<{ docId: string; errorClass: string; message: string; attempts: number; version?: number }>,
): Promise<void> {
  if (items.length === 0) return;
  await conn.query(
    `INSERT INTO ${FAILURES_TABLE} (profile, doc_id, error_class, message, attempts)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[])
     ON CONFLICT (profile, doc_id) DO UPDATE
       SET error_class = excluded.error_class, message = excluded.message, attempts = excluded.attempts, failed_at = now()`,
    [
      profile,
      items.map((i) => i.docId),
      items.map((i) => i.errorClass),
      items.map((i) => i.message.slice(0, 2000)),
      items.map((i) => i.attempts),
    ],
  );
  const queued = items.filter((i) => i.version !== undefined);
  if (queued.length === 0) return;
  await conn.query(
    `DELETE FROM ${QUEUE_TABLE} q USING unnest($2::text[], $3::bigint[]) AS u(doc_id, version)
     WHERE q.profile = $1 AND q.doc_id = u.doc_id AND q.version = u.version`,
    [profile, queued.map((i) => i.docId), queued.map((i) => i.version)],
  );
}

/** A success clears an earlier failure of the same document. */
export async function clearFailures(conn: Queryable, profile: string, docIds: string[]): Promise<void> {
  if (docIds.length === 0) return;
  await conn.query(`DELETE FROM ${FAILURES_TABLE} WHERE profile = $1 AND doc_id = ANY($2::text[])`, [profile, docIds]);
}

export async function listFailures(
  conn: Queryable,
  profile: string | null,
  limit = 100,
): Promise<{ total: number; failures: Failure[] }> {
  const { rows } = await conn.query<{
    profile: string;
    doc_id: string;
    error_class: string;
    message: string;
    attempts: number;
    failed_at: Date | string;
  }>(
    `SELECT profile, doc_id, error_class, message, attempts, failed_at FROM ${FAILURES_TABLE}
     WHERE $1::text IS NULL OR profile = $1 ORDER BY failed_at DESC, doc_id LIMIT $2`,
    [profile, limit],
  );
  const { rows: count } = await conn.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM ${FAILURES_TABLE} WHERE $1::text IS NULL OR profile = $1`,
    [profile],
  );
  return {
    total: Number(count[0]?.n ?? 0),
    failures: rows.map((r) => ({
      profile: r.profile,
      docId: r.doc_id,
      errorClass: r.error_class,
      message: r.message,
      attempts: r.attempts,
      failedAt: new Date(r.failed_at).toISOString(),
    })),
  };
}

/** Puts failed items back in the queue (attempts reset) and out of the dead-letter table. */
export async function retryFailures(conn: Queryable, profile: string | null, ids?: string[]): Promise<number> {
  const { rows } = await conn.query<{ n: string | number }>(
    `WITH moved AS (
       DELETE FROM ${FAILURES_TABLE} WHERE ($1::text IS NULL OR profile = $1) AND ($2::text[] IS NULL OR doc_id = ANY($2::text[]))
       RETURNING profile, doc_id
     ), queued AS (
       INSERT INTO ${QUEUE_TABLE} AS q (profile, doc_id, priority) SELECT profile, doc_id, 0 FROM moved
       ON CONFLICT (profile, doc_id) DO UPDATE SET version = q.version + 1, attempts = 0, not_before = clock_timestamp()
       RETURNING 1
     ) SELECT count(*) AS n FROM queued`,
    [profile, ids ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Forgets failed items for good (the documents stay unembedded and count against coverage). */
export async function dropFailures(conn: Queryable, profile: string | null, ids?: string[]): Promise<number> {
  const result = await conn.query(
    `DELETE FROM ${FAILURES_TABLE} WHERE ($1::text IS NULL OR profile = $1) AND ($2::text[] IS NULL OR doc_id = ANY($2::text[]))`,
    [profile, ids ?? null],
  );
  return result.rowCount;
}

/** Failed rows per profile (what `reembed status` shows as failures). */
export async function failuresByProfile(conn: Queryable): Promise<Map<string, number>> {
  const { rows } = await conn.query<{ profile: string; n: string | number }>(
    `SELECT profile, count(*) AS n FROM ${FAILURES_TABLE} GROUP BY profile`,
  );
  return new Map(rows.map((r) => [r.profile, Number(r.n)]));
}
