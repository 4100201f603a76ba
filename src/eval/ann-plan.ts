import type { Database } from '../db/database.js';
import { vectorLiteral } from '../db/sql.js';
import { indexKind, indexStatus, type IndexProfile } from '../store/index.js';
import { storeLayout } from '../store/store.js';

/**
 * Whether PostgreSQL's planner answers an ANN search of this profile through its index.
 * It does not always: on a small store (SciFact's 2,101 rows) sorting every row is cheaper by
 * its cost model than an index scan for a top 50, and then the "ANN" search is in fact exact.
 * An evaluation reports which it was rather than label an exact scan as ANN. The statement
 * has the shape searchIndexed runs (an ORDER BY on the distance operator with a LIMIT, under
 * the same setting of the kind's search parameter: hnsw.ef_search or ivfflat.probes).
 */
export async function annUsesIndex(
  db: Database,
  profile: IndexProfile,
  query: Float32Array,
  k: number,
  value: number,
): Promise<boolean> {
  const { table, distanceOperator, columnType } = storeLayout(profile);
  const index = (await indexStatus(db, profile)).name;
  return db.transaction(async (tx) => {
    await tx.exec(indexKind(profile).sessionSettings(value, false).join('; '));
    const { rows } = await tx.query<Record<string, string>>(
      `EXPLAIN SELECT e.doc_id FROM ${table} e ORDER BY e.embedding ${distanceOperator} $1::${columnType} LIMIT $2`,
      [vectorLiteral(query), k],
    );
    return rows.some((row) => Object.values(row).some((line) => line.includes(index)));
  });
}
