import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { vectorLiteral } from '../db/sql.js';
import { ReembedError } from '../errors.js';
import { storeLayout } from './store.js';

export interface StoredVector {
  docId: string;
  vector: Float32Array;
  contentHash: string;
}

/** A vector that must never be stored (wrong dims, NaN/Infinity, all zeros). */
export class InvalidVectorError extends ReembedError {
  constructor(profile: string, docId: string, reason: string) {
    super(
      'INVALID_VECTOR',
      `profile ${profile}: refusing to store the vector of document ${JSON.stringify(docId)}: ${reason}`,
      {
        details: { profile, docId, reason },
      },
    );
  }
}

/** The last line of defence for invariant 6, whatever produced the vector. */
export function checkVector(profile: Pick<Profile, 'name' | 'dims'>, docId: string, vector: ArrayLike<number>): void {
  if (vector.length !== profile.dims) {
    throw new InvalidVectorError(
      profile.name,
      docId,
      `it has ${vector.length} dimensions, the profile has ${profile.dims}`,
    );
  }
  let sumSq = 0;
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i]!;
    if (!Number.isFinite(x)) throw new InvalidVectorError(profile.name, docId, `value ${x} at index ${i}`);
    sumSq += x * x;
  }
  if (sumSq === 0) throw new InvalidVectorError(profile.name, docId, 'it is all zeros');
}

/** Writes vectors into the profile's store (insert or replace), all in one statement. */
export async function writeVectors(conn: Queryable, profile: Profile, rows: StoredVector[]): Promise<number> {
  if (rows.length === 0) return 0;
  for (const r of rows) checkVector(profile, r.docId, r.vector);
  const { table, columnType } = storeLayout(profile);
  const result = await conn.query(
    `INSERT INTO ${table} (doc_id, embedding, content_hash, fingerprint)
     SELECT u.doc_id, u.embedding::${columnType}, u.content_hash, $4
     FROM unnest($1::text[], $2::text[], $3::text[]) AS u(doc_id, embedding, content_hash)
     ON CONFLICT (doc_id) DO UPDATE
       SET embedding = excluded.embedding, content_hash = excluded.content_hash, embedded_at = now()`,
    [
      rows.map((r) => r.docId),
      rows.map((r) => vectorLiteral(r.vector)),
      rows.map((r) => r.contentHash),
      profile.fingerprint,
    ],
  );
  return result.rowCount;
}
