import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { decodeVectorHex, vectorHexSql } from '../db/sql.js';
import { storeLayout } from './store.js';

/** The stored vectors of the given documents (those the store has), by document id. */
export async function storedVectors(
  conn: Queryable,
  profile: Pick<Profile, 'name' | 'dims' | 'metric'>,
  ids: readonly string[],
): Promise<Map<string, Float32Array>> {
  if (ids.length === 0) return new Map();
  const { table } = storeLayout(profile);
  const { rows } = await conn.query<{ id: string; hex: string }>(
    `SELECT doc_id AS id, ${vectorHexSql('embedding')} AS hex FROM ${table} WHERE doc_id = ANY($1::text[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, decodeVectorHex(r.hex)]));
}
