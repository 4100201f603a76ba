import { imageRefOf, type Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { imageSql, profileHashSql, renderSql } from '../source/render.js';
import { castId, type Source } from '../source/source.js';
import { storeLayout } from '../store/store.js';
import { filterSql, rangeSql, type RowFilter } from './plan.js';
import { FAILURES_TABLE } from './tables.js';

/** A source row to embed: its id, rendered text and content hash, all computed in SQL. */
export interface Candidate {
  docId: string;
  text: string;
  contentHash: string;
  /**
   * The raw value of the image column, for a profile with an image input: bytes (bytea) or
   * text (a data URI, a path, a URL); null when the row has none. Read in the same statement
   * as the content hash, so the bytes embedded are the bytes hashed.
   */
  image?: unknown;
}

interface CandidateRow {
  doc_id: string;
  text: string;
  content_hash: string;
  image?: unknown;
}

function selectList(source: Source, profile: Profile): string {
  const image = imageRefOf(profile);
  return `s.${source.id}::text AS doc_id, ${renderSql(profile.template!, 's')} AS text,
          ${profileHashSql(profile, 's')} AS content_hash${image ? `, ${imageSql(image, 's')} AS image` : ''}`;
}

function candidate(r: CandidateRow): Candidate {
  const c: Candidate = { docId: r.doc_id, text: r.text, contentHash: r.content_hash };
  if ('image' in r) c.image = r.image;
  return c;
}

const STALE = `(e.doc_id IS NULL OR e.content_hash <> c.content_hash)`;

/**
 * The rows of (after, hi] that are missing or stale in the profile's store, in id order, at
 * most `limit`. Current rows are skipped, so a resumed or repeated backfill embeds nothing twice.
 */
export async function staleInRange(
  conn: Queryable,
  source: Source,
  profile: Profile,
  range: { after: string | null; hi: string | null },
  filter: RowFilter | null,
  limit: number,
): Promise<Candidate[]> {
  const { rows } = await conn.query<CandidateRow>(
    `SELECT c.* FROM (
       SELECT ${selectList(source, profile)}, s.${source.id} AS sort_key FROM ${source.table} s
       WHERE ${rangeSql(source, 1, 2)} AND ${filterSql(filter, 4)}
     ) c LEFT JOIN ${storeLayout(profile).table} e ON e.doc_id = c.doc_id
     WHERE ${STALE}
     ORDER BY c.sort_key LIMIT $3`,
    filter ? [range.after, range.hi, limit, filter.value] : [range.after, range.hi, limit],
  );
  return rows.map(candidate);
}

/** For queued ids: which still exist in the source, and which of those are missing or stale. */
export async function staleByIds(
  conn: Queryable,
  source: Source,
  profile: Profile,
  ids: string[],
): Promise<{ present: Set<string>; stale: Candidate[] }> {
  const idArray = source.idType === 'text' ? '$1::text[]' : `($1::text[])::${source.idType}[]`;
  const { rows } = await conn.query<CandidateRow & { stale: boolean }>(
    `SELECT c.*, ${STALE} AS stale FROM (
       SELECT ${selectList(source, profile)} FROM ${source.table} s WHERE s.${source.id} = ANY(${idArray})
     ) c LEFT JOIN ${storeLayout(profile).table} e ON e.doc_id = c.doc_id`,
    [ids],
  );
  return {
    present: new Set(rows.map((r) => r.doc_id)),
    stale: rows.filter((r) => r.stale).map(candidate),
  };
}

/**
 * Of these ids, the ones in the source whose store row is missing or stale and that are not
 * dead-lettered (their embedding failed already; queueing them again would only fail again).
 * The router queues these for the candidate when the control returns them (hot documents).
 */
export async function staleNotFailed(
  conn: Queryable,
  source: Source,
  profile: Profile,
  ids: string[],
): Promise<string[]> {
  const { rows } = await conn.query<{ id: string }>(
    `SELECT u.id FROM unnest($1::text[]) AS u(id)
     JOIN ${source.table} s ON s.${source.id} = ${castId(source, 'u.id')}
     LEFT JOIN ${storeLayout(profile).table} e ON e.doc_id = u.id
     WHERE (e.doc_id IS NULL OR e.content_hash <> ${profileHashSql(profile, 's')})
       AND NOT EXISTS (SELECT 1 FROM ${FAILURES_TABLE} f WHERE f.profile = $2 AND f.doc_id = u.id)`,
    [ids, profile.name],
  );
  return rows.map((r) => r.id);
}
