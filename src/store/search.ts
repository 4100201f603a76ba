import type { Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import { quoteIdentifier } from '../db/identifiers.js';
import { ReembedError } from '../errors.js';
import { castId, type Source } from '../source/source.js';
import { vectorLiteral } from '../db/sql.js';
import { storeLayout } from './store.js';

export interface SearchHit {
  id: string;
  /** Higher is better: 1 - cosine distance, negative L2 distance, or inner product. */
  score: number;
}

/**
 * Exact nearest-neighbour search over a profile's store: ordering by the distance expression
 * without an index scan gives the true top k. ANN search through HNSW comes with the index.
 */
export async function searchExact(
  conn: Queryable,
  profile: Profile,
  query: Float32Array,
  k: number,
): Promise<SearchHit[]> {
  const { table, distanceOperator, columnType } = storeLayout(profile);
  const { rows } = await conn.query<{ id: string; distance: number }>(
    `SELECT doc_id AS id, (embedding ${distanceOperator} $1::${columnType}) AS distance
     FROM ${table} ORDER BY distance, doc_id LIMIT $2`,
    [vectorLiteral(query), k],
  );
  return rows.map((r) => ({ id: r.id, score: toScore(profile.metric, Number(r.distance)) }));
}

function toScore(metric: Profile['metric'], distance: number): number {
  if (metric === 'cosine') return 1 - distance;
  // <#> returns the negative inner product, so its negation is the inner product.
  return -distance;
}

/** pgvector's default hnsw.ef_search. */
const PGVECTOR_DEFAULT_EF_SEARCH = 40;

export interface SearchOptions {
  /** HNSW candidate list size for this query (pgvector's hnsw.ef_search; default 40). */
  efSearch?: number;
  /** Only documents whose source column equals the value; runs with pgvector's iterative scans. */
  filter?: { column: string; value: string };
}

/**
 * Nearest-neighbour search through the profile's HNSW index (exact when it has none). Settings
 * are SET LOCAL inside a transaction, so they apply to this query only, even on a pooled
 * connection. A filter joins the source and turns on iterative index scans, so a selective
 * filter still returns k results instead of the few that survive a single scan.
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
  const efSearch = Math.max(k, options.efSearch ?? profile.ef_search ?? 40);
  if (!Number.isInteger(efSearch) || efSearch > 1000)
    throw new ReembedError('INVALID_EF_SEARCH', `ef_search must be a whole number up to 1000, got ${efSearch}`, {
      exitCode: 2,
    });
  if (efSearch === PGVECTOR_DEFAULT_EF_SEARCH && !options.filter) {
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
    await tx.exec(`SET LOCAL hnsw.ef_search = ${efSearch}`);
    const params: unknown[] = [vectorLiteral(query), k];
    let join = '';
    if (options.filter) {
      await tx.exec(`SET LOCAL hnsw.iterative_scan = relaxed_order`);
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
