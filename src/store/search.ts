import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
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
