import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { profileHashSql } from '../source/render.js';
import type { Source } from '../source/source.js';
import { storeLayout } from '../store/store.js';

export interface Coverage {
  sourceRows: number;
  current: number;
  stale: number;
  missing: number;
  /** current / sourceRows (1 for an empty source). */
  ratio: number;
}

/**
 * Counts coverage row by row: a store row is current when its content hash equals the one
 * computed from its source row now. Never read from an index (pgvector leaves NULLs out).
 */
export async function countCoverage(conn: Queryable, source: Source, profile: Profile): Promise<Coverage> {
  const { rows } = await conn.query<{ total: string | number; current: string | number; stale: string | number }>(
    `SELECT count(*) AS total,
            count(*) FILTER (WHERE e.content_hash = ${profileHashSql(profile, 's')}) AS current,
            count(e.doc_id) FILTER (WHERE e.content_hash <> ${profileHashSql(profile, 's')}) AS stale
     FROM ${source.table} s LEFT JOIN ${storeLayout(profile).table} e ON e.doc_id = s.${source.id}::text`,
  );
  const total = Number(rows[0]?.total ?? 0);
  const current = Number(rows[0]?.current ?? 0);
  const stale = Number(rows[0]?.stale ?? 0);
  return {
    sourceRows: total,
    current,
    stale,
    missing: total - current - stale,
    ratio: total === 0 ? 1 : current / total,
  };
}
