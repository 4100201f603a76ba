import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';

export const DOCUMENTS_TABLE = schemaObject('documents');

export const managedSourceMigrations: Migration[] = [
  {
    version: 2,
    name: 'managed documents',
    sql: `
      CREATE TABLE ${DOCUMENTS_TABLE} (
        id text PRIMARY KEY,
        content text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        updated_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
];

export interface DocumentInput {
  id: string;
  content: string;
  metadata?: Record<string, unknown>;
}

/**
 * Inserts or replaces documents in the managed source, many per statement. Ids and text are
 * passed as parameters, never spliced, so any id or text round-trips unchanged.
 */
export async function upsertDocuments(conn: Queryable, docs: DocumentInput[]): Promise<number> {
  if (docs.length === 0) return 0;
  const result = await conn.query(
    `INSERT INTO ${DOCUMENTS_TABLE} (id, content, metadata)
     SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
     ON CONFLICT (id) DO UPDATE SET content = excluded.content, metadata = excluded.metadata, updated_at = now()
     WHERE (${DOCUMENTS_TABLE}.content, ${DOCUMENTS_TABLE}.metadata) IS DISTINCT FROM (excluded.content, excluded.metadata)`,
    [docs.map((d) => d.id), docs.map((d) => d.content), docs.map((d) => JSON.stringify(d.metadata ?? {}))],
  );
  return result.rowCount;
}

export async function countDocuments(conn: Queryable): Promise<number> {
  const { rows } = await conn.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${DOCUMENTS_TABLE}`);
  return Number(rows[0]?.n ?? 0);
}

/** Documents in id order after `afterId` (keyset pagination; stable under concurrent inserts). */
export async function readDocuments(conn: Queryable, afterId: string | null, limit: number): Promise<DocumentInput[]> {
  const { rows } = await conn.query<DocumentInput>(
    `SELECT id, content FROM ${DOCUMENTS_TABLE} WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2`,
    [afterId, limit],
  );
  return rows;
}

/**
 * Upserts documents already in the database, counted: `from` yields `(id text, content text,
 * metadata text)` (the load's staging table, filled by binary COPY). One set-based statement:
 * new ids inserted, changed ones updated, equal ones (content and metadata) left alone;
 * `xmax = 0` holds exactly for a freshly inserted tuple.
 */
export async function upsertStagedDocuments(
  conn: Queryable,
  from: string,
): Promise<{ inserted: number; updated: number }> {
  const { rows } = await conn.query<{ inserted: boolean }>(
    `INSERT INTO ${DOCUMENTS_TABLE} (id, content, metadata)
     SELECT s.id, s.content, s.metadata::jsonb FROM ${from} AS s
     ON CONFLICT (id) DO UPDATE SET content = excluded.content, metadata = excluded.metadata, updated_at = now()
     WHERE (${DOCUMENTS_TABLE}.content, ${DOCUMENTS_TABLE}.metadata) IS DISTINCT FROM (excluded.content, excluded.metadata)
     RETURNING (xmax = 0) AS inserted`,
  );
  const inserted = rows.filter((r) => r.inserted).length;
  return { inserted, updated: rows.length - inserted };
}

/** Of these ids, the ones the managed documents table lacks, in id order. */
export async function missingDocuments(conn: Queryable, ids: string[]): Promise<string[]> {
  const { rows } = await conn.query<{ id: string }>(
    `SELECT q.id FROM unnest($1::text[]) AS q(id)
     WHERE NOT EXISTS (SELECT 1 FROM ${DOCUMENTS_TABLE} d WHERE d.id = q.id) ORDER BY q.id`,
    [ids],
  );
  return rows.map((r) => r.id);
}

/**
 * The text at a JSON path of each listed document's metadata (`["category"]` reads
 * `metadata.category`); documents without a value there, or absent, are left out.
 */
export async function metadataValues(conn: Queryable, ids: string[], path: string[]): Promise<Map<string, string>> {
  const { rows } = await conn.query<{ id: string; value: string | null }>(
    `SELECT id, metadata #>> $1::text[] AS value FROM ${DOCUMENTS_TABLE} WHERE id = ANY($2::text[])`,
    [path, ids],
  );
  const out = new Map<string, string>();
  for (const r of rows) if (r.value !== null && r.value !== '') out.set(r.id, r.value);
  return out;
}
