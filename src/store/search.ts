import type { Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import { quoteIdentifier } from '../db/identifiers.js';
import { ReembedError } from '../errors.js';
import { castId, type Source } from '../source/source.js';
import { vectorLiteral } from '../db/sql.js';
import { foreignKindSettings, indexKind, searchValue } from './index.js';
import { storeLayout } from './store.js';

export interface SearchHit {
  id: string;
  /** Higher is better: 1 - cosine distance, negative L2 distance, or inner product. */
  score: number;
}

/**
 * Exact nearest-neighbour search over a profile's store: every row's distance, sorted, gives
 * the true top k. ANN search goes through the profile's index (searchIndexed).
 */
export async function searchExact(
  conn: Queryable,
  profile: Profile,
  query: Float32Array,
  k: number,
): Promise<SearchHit[]> {
  const { table, distanceOperator, columnType } = storeLayout(profile);
  // OFFSET 0 fences the subquery, so the sort cannot be fed by an index scan: without it the
  // planner may read the ANN index in distance order under an Incremental Sort on doc_id, and
  // the "exact" top k is then the index's approximate one (seen with IVFFlat on PGlite, where
  // the index scan at probes 1 is cheaper than sorting every row).
  const { rows } = await conn.query<{ id: string; distance: number }>(
    `SELECT id, distance FROM (
       SELECT doc_id AS id, (embedding ${distanceOperator} $1::${columnType}) AS distance FROM ${table} OFFSET 0
     ) every_row ORDER BY distance, id LIMIT $2`,
    [vectorLiteral(query), k],
  );
  return rows.map((r) => ({ id: r.id, score: toScore(profile.metric, Number(r.distance)) }));
}

function toScore(metric: Profile['metric'], distance: number): number {
  if (metric === 'cosine') return 1 - distance;
  // <#> returns the negative inner product, so its negation is the inner product.
  return -distance;
}

export interface SearchOptions {
  /**
   * The index kind's search parameter for this query: hnsw.ef_search (raised to k) or
   * ivfflat.probes. Default: the profile's, else reembed's default for the kind (40, 10).
   */
  searchValue?: number;
  /** @deprecated the HNSW name of searchValue, kept for callers written before IVFFlat. */
  efSearch?: number;
  /** Only documents whose source column equals the value; runs with pgvector's iterative scans. */
  filter?: { column: string; value: string };
}

/**
 * Nearest-neighbour search through the profile's index (exact when it has none). The kind's
 * settings (hnsw.ef_search, ivfflat.probes) are SET LOCAL inside a transaction, so they apply to
 * this query only, even on a pooled connection. A filter joins the source and turns on the
 * kind's iterative index scan (pgvector 0.8; both PGlite's and the server's have it), so a
 * selective filter still returns k results instead of the few that survive a single scan.
 */
export async function searchIndexed(
  db: Database,
  source: Source,
  profile: Profile,
  query: Float32Array,
  k: number,
  options: SearchOptions = {},
): Promise<SearchHit[]> {
  const { table, distanceOperator, columnType } = storeLayout(profile);
  const kind = indexKind(profile);
  const value = searchValue(profile, k, options.searchValue ?? options.efSearch);
  const { name, min, max } = kind.parameter;
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ReembedError(
      name === 'ef_search' ? 'INVALID_EF_SEARCH' : 'INVALID_PROBES',
      `${name} must be a whole number from ${min} to ${max}, got ${value}`,
      { exitCode: 2 },
    );
  const foreign = await foreignKindSettings(db, profile, k, Boolean(options.filter));
  if (value === kind.parameter.pgvectorDefault && !options.filter && foreign.length === 0) {
    // Nothing to set: one round trip instead of BEGIN, SET LOCAL, SELECT, COMMIT. Safe on a
    // pooled connection because reembed only ever changes these settings with SET LOCAL.
    const { rows } = await db.query<{ id: string; distance: number }>(
      `SELECT e.doc_id AS id, (e.embedding ${distanceOperator} $1::${columnType}) AS distance
       FROM ${table} e ORDER BY e.embedding ${distanceOperator} $1::${columnType} LIMIT $2`,
      [vectorLiteral(query), k],
    );
    return rows.map((r) => ({ id: r.id, score: toScore(profile.metric, Number(r.distance)) }));
  }
  return db.transaction(async (tx) => {
    await tx.exec([...kind.sessionSettings(value, Boolean(options.filter)), ...foreign].join('; '));
    const params: unknown[] = [vectorLiteral(query), k];
    let join = '';
    if (options.filter) {
      join = `JOIN ${source.table} s ON s.${source.id} = ${castId(source, 'e.doc_id')} AND s.${quoteIdentifier(options.filter.column, 'filter column')}::text = $3`;
      params.push(options.filter.value);
    }
    const { rows } = await tx.query<{ id: string; distance: number }>(
      `SELECT e.doc_id AS id, (e.embedding ${distanceOperator} $1::${columnType}) AS distance
       FROM ${table} e ${join}
       ORDER BY e.embedding ${distanceOperator} $1::${columnType} LIMIT $2`,
      params,
    );
    return rows.map((r) => ({ id: r.id, score: toScore(profile.metric, Number(r.distance)) }));
  });
}
