import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { vectorLiteral } from '../db/sql.js';
import { indexName } from '../store/index.js';
import { storeLayout } from '../store/store.js';

/**
 * Whether PostgreSQL's planner answers an ANN search of this profile through its HNSW index.
 * It does not always: on a small store (SciFact's 2,101 rows) sorting every row is cheaper by
 * its cost model than an index scan for a top 50, and then the "ANN" search is in fact exact.
 * An evaluation reports which it was rather than label an exact scan as HNSW. The statement
 * has the shape searchIndexed runs (an ORDER BY on the distance operator with a LIMIT, under
 * the same hnsw.ef_search).
 */
export async function annUsesIndex(
  db: Database,
  profile: Pick<Profile, 'name' | 'dims' | 'metric'>,
  query: Float32Array,
  k: number,
  efSearch: number,
): Promise<boolean> {
  const { table, distanceOperator, columnType } = storeLayout(profile);
  return db.transaction(async (tx) => {
    await tx.exec(`SET LOCAL hnsw.ef_search = ${Math.trunc(efSearch)}`);
    const { rows } = await tx.query<Record<string, string>>(
      `EXPLAIN SELECT e.doc_id FROM ${table} e ORDER BY e.embedding ${distanceOperator} $1::${columnType} LIMIT $2`,
      [vectorLiteral(query), k],
    );
    return rows.some((row) => Object.values(row).some((line) => line.includes(indexName(profile))));
  });
}
