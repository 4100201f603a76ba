import type { Profile } from '../config/profile.js';
import { encodeCopy } from '../db/copy-binary.js';
import type { Database } from '../db/database.js';
import { hasSqlState } from '../db/transient.js';
import { profileHashSql } from '../source/render.js';
import { castId, type Source } from '../source/source.js';
import { storeLayout } from './store.js';
import type { StoredVector } from './write.js';

export interface WriteOptions {
  /**
   * Commit without waiting for the WAL flush (`synchronous_commit = off` for this transaction
   * only). Only for a caller that commits a durable record of the work afterwards — a chunk
   * marked done, a queue item deleted, a failure cleared — since that commit flushes the WAL up
   * to it, this write's included: a server crash can lose the write only together with the
   * record that says it was done, so the work is found undone and redone. A crash never
   * corrupts anything; it only loses the last few hundred milliseconds of such commits. Saves a
   * WAL flush (about 2–3 ms on the benchmark machine's disk) per batch.
   */
  asyncCommit?: boolean;
}

const ASYNC_COMMIT = 'SET LOCAL synchronous_commit = off';

/**
 * The guarded write as a COPY straight into the store, for the bulk path (a backfill page):
 * one transaction that
 *
 * 1. share-locks the source rows that still have the content hash that was embedded (ids and
 *    hashes go as two text arrays, no vectors), and deletes their old store rows;
 * 2. COPYs the vectors of exactly those rows into the store, in binary.
 *
 * The same guard as the staged upsert (invariant 2): a source row changed or deleted before the
 * lock is not written; one changed after it waits for the commit, and its trigger queues it
 * again. Compared with staging the batch and `INSERT … SELECT … ON CONFLICT`, every vector is
 * parsed and written once instead of twice. A store row that another session wrote after the
 * DELETE's snapshot makes the COPY fail on the primary key: the transaction rolls back, nothing
 * is written, and null tells the caller to use the upsert instead.
 *
 * Only for `vector` stores: the encoder writes float4, and a `halfvec` store is filled by a
 * server-side cast (see copy-binary.ts). Returns the ids written, in the order given.
 */
export async function copyIfCurrent(
  db: Database,
  source: Source,
  profile: Profile,
  rows: StoredVector[],
  options: WriteOptions = {},
): Promise<string[] | null> {
  const { table } = storeLayout(profile);
  try {
    return await db.transaction(async (tx) => {
      if (options.asyncCommit) await tx.exec(ASYNC_COMMIT);
      // Both steps go by primary key whatever the batch size, so neither ever scans a whole
      // table: a LATERAL subquery with a row lock cannot be flattened into a hash join (which
      // would render and hash every source row), and `= ANY(ARRAY(…))` hides the array's size
      // from the planner, which then probes the store's key instead of scanning the store.
      const { rows: current } = await tx.query<{ doc_id: string }>(
        `WITH current AS (
           SELECT u.doc_id FROM unnest($1::text[], $2::text[]) AS u(doc_id, content_hash),
             LATERAL (
               SELECT FROM ${source.table} AS s
               WHERE s.${source.id} = ${castId(source, 'u.doc_id')}
                 AND ${profileHashSql(profile, 's')} = u.content_hash
               FOR SHARE
             ) AS locked
         ), replaced AS (
           DELETE FROM ${table} AS e WHERE e.doc_id = ANY(ARRAY(SELECT doc_id FROM current))
         )
         SELECT doc_id FROM current`,
        [rows.map((r) => r.docId), rows.map((r) => r.contentHash)],
      );
      if (current.length === 0) return [];
      const ok = new Set(current.map((r) => r.doc_id));
      const payload = encodeCopy(
        rows.filter((r) => ok.has(r.docId)).map((r) => [r.docId, r.vector, r.contentHash, profile.fingerprint]),
      );
      const copied = await tx.copyFrom(`${table} (doc_id, embedding, content_hash, fingerprint)`, payload);
      if (copied !== ok.size) throw new Error(`the store COPY took ${copied} of ${ok.size} rows`);
      return rows.filter((r) => ok.has(r.docId)).map((r) => r.docId);
    });
  } catch (error) {
    // A unique violation: another session wrote one of the rows; the upsert takes the batch.
    if (hasSqlState(error, '23505')) return null;
    throw error;
  }
}
