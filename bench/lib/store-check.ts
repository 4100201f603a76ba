import type { Profile } from '../../src/config/profile.js';
import type { Database, Queryable } from '../../src/db/database.js';
import { parseVector } from '../../src/db/sql.js';
import type { Source } from '../../src/source/source.js';
import { writeIfCurrent } from '../../src/store/guarded-write.js';
import { writeVectors, type StoredVector } from '../../src/store/write.js';
import type { VectorSet } from './vectors.js';

/** reembed's write path as a bulk loader drives it: writeVectors, one call per batch. */
export async function writeInBatches(
  db: Database,
  profile: Profile,
  rows: StoredVector[],
  batch: number,
): Promise<void> {
  for (let i = 0; i < rows.length; i += batch) {
    const written = await writeVectors(db, profile, rows.slice(i, i + batch));
    if (written !== Math.min(batch, rows.length - i))
      throw new Error(`writeVectors wrote ${written} rows at offset ${i}`);
  }
}

/** The backfill worker's write: writeIfCurrent, one call per batch; every row must be current. */
export async function writeGuardedInBatches(
  db: Database,
  source: Source,
  profile: Profile,
  rows: StoredVector[],
  batch: number,
): Promise<void> {
  for (let i = 0; i < rows.length; i += batch) {
    const written = await writeIfCurrent(db, source, profile, rows.slice(i, i + batch));
    if (written.length !== Math.min(batch, rows.length - i))
      throw new Error(`writeIfCurrent wrote ${written.length} rows at offset ${i}`);
  }
}

/**
 * Checks that a measured write stored what it was given: the row count, and the first, middle
 * and last rows read back (vector bit for bit, content hash, fingerprint). A write path that
 * stored garbage fast would otherwise look like a win.
 */
export async function verifyStore(conn: Queryable, table: string, set: VectorSet, fingerprint: string): Promise<void> {
  const { rows } = await conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  if (rows[0]?.n !== set.ids.length) throw new Error(`${table} has ${rows[0]?.n} rows, expected ${set.ids.length}`);
  const last = set.ids.length - 1;
  for (const i of new Set([0, last >> 1, last])) {
    const { rows: found } = await conn.query<{ embedding: string; content_hash: string; fingerprint: string }>(
      `SELECT embedding::text AS embedding, content_hash, fingerprint FROM ${table} WHERE doc_id = $1`,
      [set.ids[i]],
    );
    const row = found[0];
    const problem = !row
      ? 'is missing'
      : row.content_hash !== set.hashes[i]
        ? `has content hash ${row.content_hash}`
        : row.fingerprint !== fingerprint
          ? `has fingerprint ${row.fingerprint}`
          : !sameFloats(parseVector(row.embedding), set.vectors[i]!)
            ? 'has a different vector'
            : undefined;
    if (problem) throw new Error(`${table}: row ${set.ids[i]} ${problem}`);
  }
}

function sameFloats(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}
