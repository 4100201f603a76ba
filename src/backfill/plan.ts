import type { Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import { quoteIdentifier } from '../db/identifiers.js';
import { ConfigError } from '../errors.js';
import { castId, type Source } from '../source/source.js';
import { BACKFILLS_TABLE, CHUNKS_TABLE } from './tables.js';

/** `--filter col=value`: backfill one category first. */
export interface RowFilter {
  column: string;
  value: string;
}

export function parseFilter(text: string, source: Source): RowFilter {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--filter must be column=value, got ${JSON.stringify(text)}`);
  const column = text.slice(0, eq).trim();
  quoteIdentifier(column, '--filter column');
  if (!source.columns.includes(column)) {
    throw new ConfigError(
      `--filter: column ${JSON.stringify(column)} does not exist in the source (it has: ${source.columns.join(', ')})`,
    );
  }
  return { column, value: text.slice(eq + 1) };
}

/** The SQL condition of a filter over source alias `s`, with the value as parameter $n. */
export function filterSql(filter: RowFilter | null | undefined, param: number): string {
  return filter ? `s.${quoteIdentifier(filter.column)}::text = $${param}` : 'true';
}

/**
 * Rows per chunk when none is given: large enough that a worker's pipeline of pages (see
 * Worker.processChunk) fills within a chunk, since it drains at every chunk's end, and small
 * enough that a killed worker's chunk is soon re-scanned (its rows already written are skipped).
 * Measured: BENCHMARKS.md (`backfill`).
 */
export const DEFAULT_CHUNK_SIZE = 5000;

export interface BackfillPlan {
  profile: string;
  sourceRows: number;
  chunkSize: number;
  chunks: number;
  filter: RowFilter | null;
}

/**
 * Chunks a plan of `rows` rows has: one per full `chunkSize` rows, plus the open range after the
 * last boundary (it holds the remainder, and catches rows inserted later). The dry run and the
 * plan count alike.
 */
export function chunkCount(rows: number, chunkSize: number): number {
  return Math.floor(rows / chunkSize) + 1;
}

/**
 * Splits the source's id space into keyset ranges of about `chunkSize` rows: every
 * chunkSize-th id is a boundary, so ranges stay balanced whatever the id distribution, and a
 * range is (lo, hi] in the id's own order. Replanning replaces the profile's chunks; rows
 * already current are skipped when the new chunks are scanned.
 */
export async function planBackfill(
  db: Database,
  source: Source,
  profile: Profile,
  options: { chunkSize?: number; filter?: RowFilter | null } = {},
): Promise<BackfillPlan> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const filter = options.filter ?? null;
  return db.transaction(async (tx) => {
    // Two plans of one profile at once would collide on chunk numbers: take turns.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`reembed.plan.${profile.name}`]);
    const params = filter ? [chunkSize, filter.value] : [chunkSize];
    const { rows: bounds } = await tx.query<{ id: string }>(
      `SELECT id FROM (
         SELECT s.${source.id}::text AS id, row_number() OVER (ORDER BY s.${source.id}) AS rn
         FROM ${source.table} s WHERE ${filterSql(filter, 2)}
       ) b WHERE rn % $1 = 0 ORDER BY rn`,
      params,
    );
    const { rows: countRows } = await tx.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM ${source.table} s WHERE ${filterSql(filter, 1)}`,
      filter ? [filter.value] : [],
    );
    const sourceRows = Number(countRows[0]?.n ?? 0);
    const edges: Array<string | null> = [null, ...bounds.map((b) => b.id), null];
    // The last boundary closes the last full chunk; an open range after it catches new rows.
    await tx.query(`DELETE FROM ${CHUNKS_TABLE} WHERE profile = $1`, [profile.name]);
    await tx.query(
      `INSERT INTO ${CHUNKS_TABLE} (profile, chunk_no, lo, hi)
       SELECT $1, n, lo, hi FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(lo, hi, n)`,
      [profile.name, edges.slice(0, -1), edges.slice(1)],
    );
    await tx.query(
      `INSERT INTO ${BACKFILLS_TABLE} (profile, chunk_size, chunks, source_rows, filter) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (profile) DO UPDATE SET planned_at = now(), chunk_size = excluded.chunk_size, chunks = excluded.chunks,
         source_rows = excluded.source_rows, filter = excluded.filter`,
      [profile.name, chunkSize, edges.length - 1, sourceRows, filter ? JSON.stringify(filter) : null],
    );
    return { profile: profile.name, sourceRows, chunkSize, chunks: edges.length - 1, filter };
  });
}

/** The SQL condition "s.id in (lo, hi]" with lo and hi as parameters $a and $b. */
export function rangeSql(source: Source, lo: number, hi: number): string {
  const id = `s.${source.id}`;
  return `($${lo}::text IS NULL OR ${id} > ${castId(source, `$${lo}::text`)}) AND ($${hi}::text IS NULL OR ${id} <= ${castId(source, `$${hi}::text`)})`;
}

export async function loadFilter(conn: Queryable, profile: string): Promise<RowFilter | null> {
  const { rows } = await conn.query<{ filter: RowFilter | string | null }>(
    `SELECT filter FROM ${BACKFILLS_TABLE} WHERE profile = $1`,
    [profile],
  );
  const f = rows[0]?.filter;
  return f == null ? null : typeof f === 'string' ? (JSON.parse(f) as RowFilter) : f;
}
