import type { Queryable } from '../db/database.js';
import { renderSql } from './render.js';
import type { Source } from './source.js';

/**
 * The rendered input text of the given documents under a template (what the profile embeds,
 * without prefixes), by id; ids the source no longer has are left out. For a rerank stage,
 * which reads the candidates' text after the retrieval.
 */
export async function renderedTexts(
  conn: Queryable,
  source: Source,
  template: string,
  ids: readonly string[],
): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { rows } = await conn.query<{ id: string; text: string }>(
    `SELECT s.${source.id}::text AS id, ${renderSql(template, 's')} AS text
     FROM ${source.table} s WHERE s.${source.id} = ANY($1::${source.idType}[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.text]));
}
