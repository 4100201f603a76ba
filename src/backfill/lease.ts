import type { Queryable } from '../db/database.js';
import { QUEUE_TABLE } from '../source/capture.js';
import { RECORD_JIT_COMPLETIONS } from './jit.js';
import { CHUNKS_TABLE } from './tables.js';

export interface QueueItem {
  profile: string;
  docId: string;
  version: number;
  attempts: number;
}

export interface Chunk {
  profile: string;
  chunkNo: number;
  lo: string | null;
  hi: string | null;
}

/**
 * Leases up to `limit` ready queue items of the given profiles, highest priority first.
 * SKIP LOCKED lets any number of workers lease at once without waiting on each other; an
 * expired lease (its worker died) makes an item ready again, and so does one this worker still
 * holds (see leaseChunk).
 */
export async function leaseQueueItems(
  conn: Queryable,
  workerId: string,
  profiles: string[],
  limit: number,
  leaseSeconds: number,
  /** Only items of this priority or higher (the just-in-time requests, for a worker inside a chunk). */
  minPriority: number | null = null,
): Promise<QueueItem[]> {
  const { rows } = await conn.query<{ profile: string; doc_id: string; version: string | number; attempts: number }>(
    `UPDATE ${QUEUE_TABLE} q SET lease_until = clock_timestamp() + make_interval(secs => $4), leased_by = $1
     FROM (
       SELECT profile, doc_id FROM ${QUEUE_TABLE}
       WHERE profile = ANY($2::text[]) AND not_before <= clock_timestamp()
         AND ($5::int IS NULL OR priority >= $5::int)
         AND (lease_until IS NULL OR lease_until < clock_timestamp() OR leased_by = $1)
       ORDER BY priority DESC, enqueued_at
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     ) ready
     WHERE q.profile = ready.profile AND q.doc_id = ready.doc_id
     RETURNING q.profile, q.doc_id, q.version, q.attempts`,
    [workerId, profiles, limit, leaseSeconds, minPriority],
  );
  return rows.map((r) => ({ profile: r.profile, docId: r.doc_id, version: Number(r.version), attempts: r.attempts }));
}

/**
 * Leases one chunk that is not done and not leased by another live worker. A worker asks only
 * between two pieces of work, so a lease it still holds is one a failed step could not give
 * back (its connection broke): it takes it again rather than renewing it for ever unworked.
 */
export async function leaseChunk(
  conn: Queryable,
  workerId: string,
  profiles: string[],
  leaseSeconds: number,
): Promise<Chunk | null> {
  const { rows } = await conn.query<{ profile: string; chunk_no: number; lo: string | null; hi: string | null }>(
    `UPDATE ${CHUNKS_TABLE} c SET lease_until = clock_timestamp() + make_interval(secs => $3), leased_by = $1, attempts = c.attempts + 1
     FROM (
       SELECT profile, chunk_no FROM ${CHUNKS_TABLE}
       WHERE profile = ANY($2::text[]) AND NOT done
         AND (lease_until IS NULL OR lease_until < clock_timestamp() OR leased_by = $1)
       ORDER BY chunk_no
       LIMIT 1
       FOR UPDATE SKIP LOCKED
     ) ready
     WHERE c.profile = ready.profile AND c.chunk_no = ready.chunk_no
     RETURNING c.profile, c.chunk_no, c.lo, c.hi`,
    [workerId, profiles, leaseSeconds],
  );
  const r = rows[0];
  return r ? { profile: r.profile, chunkNo: r.chunk_no, lo: r.lo, hi: r.hi } : null;
}

/** Extends every lease this worker holds (called by its heartbeat). */
export async function renewLeases(conn: Queryable, workerId: string, leaseSeconds: number): Promise<void> {
  await conn.query(
    `UPDATE ${QUEUE_TABLE} SET lease_until = clock_timestamp() + make_interval(secs => $2) WHERE leased_by = $1 AND lease_until IS NOT NULL`,
    [workerId, leaseSeconds],
  );
  await conn.query(
    `UPDATE ${CHUNKS_TABLE} SET lease_until = clock_timestamp() + make_interval(secs => $2) WHERE leased_by = $1 AND NOT done AND lease_until IS NOT NULL`,
    [workerId, leaseSeconds],
  );
}

/**
 * Gives back what this worker holds, e.g. on shutdown; with `profile`, only that profile's (a
 * pause of one profile leaves the queue items of the others, leased in the same step, to be
 * processed by this worker).
 */
export async function releaseLeases(conn: Queryable, workerId: string, profile?: string): Promise<void> {
  await conn.query(
    `UPDATE ${QUEUE_TABLE} SET lease_until = NULL, leased_by = NULL WHERE leased_by = $1 AND ($2::text IS NULL OR profile = $2)`,
    [workerId, profile ?? null],
  );
  await conn.query(
    `UPDATE ${CHUNKS_TABLE} SET lease_until = NULL, leased_by = NULL
     WHERE leased_by = $1 AND NOT done AND ($2::text IS NULL OR profile = $2)`,
    [workerId, profile ?? null],
  );
}

/** Removes processed queue items, but only the version that was processed: a newer change stays queued. */
export async function completeQueueItems(
  conn: Queryable,
  workerId: string,
  profile: string,
  items: QueueItem[],
): Promise<void> {
  if (items.length === 0) return;
  // A just-in-time request among them is recorded as completed in the same statement.
  await conn.query(
    `WITH done AS (
       DELETE FROM ${QUEUE_TABLE} q USING unnest($2::text[], $3::bigint[]) AS u(doc_id, version)
       WHERE q.profile = $1 AND q.doc_id = u.doc_id AND q.version = u.version
       RETURNING q.profile, q.jit_requested_at
     )
     ${RECORD_JIT_COMPLETIONS}`,
    [profile, items.map((i) => i.docId), items.map((i) => i.version)],
  );
  await conn.query(
    `UPDATE ${QUEUE_TABLE} SET lease_until = NULL, leased_by = NULL WHERE profile = $1 AND doc_id = ANY($2::text[]) AND leased_by = $3`,
    [profile, items.map((i) => i.docId), workerId],
  );
}

/**
 * Marks the chunk done, only if this worker still holds that very range: after a replan the
 * same chunk number may name another range, which this worker has not scanned.
 */
export async function completeChunk(conn: Queryable, workerId: string, chunk: Chunk): Promise<void> {
  await conn.query(
    `UPDATE ${CHUNKS_TABLE} SET done = true, lease_until = NULL
     WHERE profile = $1 AND chunk_no = $2 AND leased_by = $3 AND lo IS NOT DISTINCT FROM $4 AND hi IS NOT DISTINCT FROM $5`,
    [chunk.profile, chunk.chunkNo, workerId, chunk.lo, chunk.hi],
  );
}

/** Whether any work is left for these profiles: queue items (ready or not) or chunks not done. */
export async function pendingWork(conn: Queryable, profiles: string[]): Promise<{ queued: number; chunks: number }> {
  const { rows } = await conn.query<{ queued: string | number; chunks: string | number }>(
    `SELECT (SELECT count(*) FROM ${QUEUE_TABLE} WHERE profile = ANY($1::text[])) AS queued,
            (SELECT count(*) FROM ${CHUNKS_TABLE} WHERE profile = ANY($1::text[]) AND NOT done) AS chunks`,
    [profiles],
  );
  return { queued: Number(rows[0]?.queued ?? 0), chunks: Number(rows[0]?.chunks ?? 0) };
}
