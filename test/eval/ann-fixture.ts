import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { seededRandom } from '../../src/random.js';
import { buildIndex, indexName } from '../../src/store/index.js';
import { ensureStore, storeLayout } from '../../src/store/store.js';
import { writeVectors } from '../../src/store/write.js';

/** Seeded random unit vectors (Gaussian directions): the hardest data for a graph index. */
export function unitVectors(count: number, dims: number, seed = 1): Float32Array[] {
  const random = seededRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, () => {
    const v = Float32Array.from({ length: dims }, gaussian);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

/** Zero-padded ids, so byte order (the sample's order) is numeric order. */
export const docId = (i: number): string => `d${String(i).padStart(5, '0')}`;

/**
 * A store of `count` random unit vectors with its HNSW index: reembed's own (`default`), none,
 * or a deliberately `sparse` graph (m 6, ef_construction 12) under the same name (the profile must
 * configure it: `index: { type: hnsw, m: 6, ef_construction: 12 }`, or the index is not current). reembed builds
 * with pgvector's defaults (m 16, ef_construction 64), whose recall on a store of a few hundred
 * rows is near 1 even at ef_search 10; the sparse graph misses neighbours at small ef_search
 * (measured recall@10 0.75-0.77 at 10, 0.90-0.92 at 40, 1.000 at 600 on 600 × 64 dims), so
 * values can be told apart. At ef_search >= the row count a search visits every row it can reach.
 */
export async function fillStore(
  db: Database,
  profile: Profile,
  count: number,
  options: { index?: 'default' | 'sparse' | 'none'; seed?: number } = {},
): Promise<Float32Array[]> {
  await ensureStore(db, profile);
  const vectors = unitVectors(count, profile.dims, options.seed);
  for (let start = 0; start < count; start += 500) {
    await writeVectors(
      db,
      profile,
      vectors.slice(start, start + 500).map((vector, i) => ({ docId: docId(start + i), vector, contentHash: 'h' })),
    );
  }
  const index = options.index ?? 'default';
  if (index === 'default') await buildIndex(db, profile, { maintenanceWorkMem: '64MB' });
  if (index === 'sparse') {
    const { table, opclass } = storeLayout(profile);
    await db.exec(
      `CREATE INDEX ${indexName(profile)} ON ${table} USING hnsw (embedding ${opclass}) WITH (m = 6, ef_construction = 12)`,
    );
  }
  return vectors;
}
