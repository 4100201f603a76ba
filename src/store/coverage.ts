import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { storeLayout } from './store.js';

/** Stored rows for a profile, counted (never inferred from an index: pgvector skips NULLs there). */
export async function countStored(conn: Queryable, profile: Profile): Promise<number> {
  const { rows } = await conn.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${storeLayout(profile).table}`);
  return Number(rows[0]?.n ?? 0);
}
