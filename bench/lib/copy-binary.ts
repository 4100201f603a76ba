/**
 * The benchmark's binary COPY payload for a whole vector set, in the store table's column
 * order, encoded by reembed's own encoder (src/db/copy-binary.ts) so the ceiling and the write
 * path pay the same encoding cost per byte.
 */
import { copyHeader, copyTrailer, encodeCopyRows } from '../../src/db/copy-binary.js';
import type { Queryable } from '../../src/db/database.js';
import type { VectorSet } from './vectors.js';

export { copyHeader, copyTrailer };

/** The columns, in this order, that every encoded row carries. */
export const COPY_COLUMNS = '(doc_id, embedding, content_hash, fingerprint)';

/** Encodes rows [start, end) of the set into one buffer (no header or trailer). */
export function encodeRows(set: VectorSet, start: number, end: number, fingerprint: string): Buffer {
  const rows: Array<[string, Float32Array, string, string]> = [];
  for (let i = start; i < end; i++) rows.push([set.ids[i]!, set.vectors[i]!, set.hashes[i]!, fingerprint]);
  return encodeCopyRows(rows);
}

/** The whole COPY payload in chunks of chunkRows rows, header first and trailer last. */
export function* copyChunks(set: VectorSet, fingerprint: string, chunkRows = 500): Generator<Buffer> {
  yield copyHeader();
  for (let i = 0; i < set.ids.length; i += chunkRows) {
    yield encodeRows(set, i, Math.min(set.ids.length, i + chunkRows), fingerprint);
  }
  yield copyTrailer();
}

/**
 * COPYs the whole set into `table`: in one COPY (one transaction), or with `batch`, one
 * autocommit COPY per batch, which pays a commit per batch as a writer of batches does.
 */
export async function copySet(
  conn: Queryable,
  table: string,
  set: VectorSet,
  fingerprint: string,
  batch: number | null,
): Promise<void> {
  const target = `${table} ${COPY_COLUMNS}`;
  let copied = 0;
  if (batch === null) {
    copied = await conn.copyFrom(target, copyChunks(set, fingerprint));
  } else {
    for (let i = 0; i < set.ids.length; i += batch) {
      const rows = encodeRows(set, i, Math.min(set.ids.length, i + batch), fingerprint);
      copied += await conn.copyFrom(target, [copyHeader(), rows, copyTrailer()]);
    }
  }
  if (copied !== set.ids.length) throw new Error(`COPY reported ${copied} rows, expected ${set.ids.length}`);
}
