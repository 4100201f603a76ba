import type { Database } from '../db/database.js';
import type { IndexKind, IndexProfile } from './index-kind.js';
import { storeLayout } from './store.js';

/** reembed's probes when the profile sets none: √lists of a 100,000-row store (pgvector's own default is 1). */
export const DEFAULT_PROBES = 10;

function settings(profile: IndexProfile): { lists?: number; probes?: number } {
  return profile.index?.type === 'ivfflat' ? profile.index : {};
}

/**
 * The lists of an IVFFlat index over `rows` rows, as pgvector recommends: rows / 1000 up to
 * 1M rows, √rows above, at least 1 (and at most pgvector's 32,768).
 */
export function defaultLists(rows: number): number {
  const lists = rows <= 1_000_000 ? Math.floor(rows / 1000) : Math.floor(Math.sqrt(rows));
  return Math.min(32768, Math.max(1, lists));
}

/**
 * IVFFlat: k-means centroids computed from the rows present at build time, each vector kept in
 * the list of its nearest centroid; a search scans the `ivfflat.probes` nearest lists. Built
 * after the backfill, because the centroids come from the data.
 */
export const ivfflatKind: IndexKind = {
  type: 'ivfflat',
  accessMethod: 'ivfflat',
  needsRowCount: true,
  buildOptions(profile, storeRows) {
    return { lists: settings(profile).lists ?? defaultLists(storeRows) };
  },
  matches(profile, reloptions) {
    const { lists } = settings(profile);
    return lists === undefined || reloptions.lists === lists;
  },
  parameter: {
    name: 'probes',
    defaults: [1, 2, 4, 8, 12, 16, 32],
    min: 1,
    max: 32768,
    pgvectorDefault: 1,
    fallback: DEFAULT_PROBES,
  },
  configured(profile) {
    return settings(profile).probes;
  },
  effective(value) {
    return value;
  },
  sessionSettings(value, filtered) {
    return [
      `SET LOCAL ivfflat.probes = ${Math.trunc(value)}`,
      ...(filtered ? ['SET LOCAL ivfflat.iterative_scan = relaxed_order'] : []),
    ];
  },
  describe(reloptions, value) {
    return `ivfflat (lists ${reloptions.lists ?? '?'}), probes ${value}`;
  },
};

/** Sizes of an IVFFlat index's lists (see listImbalance for how they are found). */
export interface ListImbalance {
  /** The index's lists (its build option). */
  lists: number;
  /** Lists found; the others hold `storeRows - rowsCovered` rows between them (often none: empty lists). */
  found: number;
  storeRows: number;
  /** Rows in the lists found. */
  rowsCovered: number;
  /** Probing queries run (one per list found, plus any whose row was not indexed). */
  probes: number;
  /** Over the lists found. */
  min: number;
  p50: number;
  max: number;
  mean: number;
  /** Coefficient of variation (population standard deviation / mean) of the sizes. */
  cv: number;
  /** `complete`: every row is in a list found, so the sizes are exact; `sampled`: some lists were not reached. */
  method: 'complete' | 'sampled';
}

export interface ListImbalanceOptions {
  /** Rows drawn as probes (default min(20 × lists, 20,000)). */
  poolSize?: number;
}

/**
 * The sizes of the lists of a profile's IVFFlat index. pgvector exposes no list sizes (nor
 * centroids) through SQL, so they are read through the index itself: a search with
 * `ivfflat.probes = 1` and no iterative scan returns exactly the rows of the list whose centroid
 * is nearest the query, and a stored vector's nearest centroid is the list it was filed in.
 * So: draw a pool of stored rows (deterministically, by a hash of the id), and for each row not
 * yet seen in a found list, search with its own vector and record the list it returns. Each list
 * is read once, so the cost is about one pass over the store plus one small query per list. A
 * list none of the pool falls into is not found (with 20 draws per list on average, only lists
 * far below the mean size are likely to be missed); `rowsCovered` against `storeRows` says how
 * many rows such lists hold together.
 */
export async function listImbalance(
  db: Database,
  profile: IndexProfile,
  indexName: string,
  lists: number,
  options: ListImbalanceOptions = {},
): Promise<ListImbalance> {
  const { table, distanceOperator } = storeLayout(profile);
  return db.transaction(async (tx) => {
    const { rows: counted } = await tx.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`);
    const storeRows = Number(counted[0]!.n);
    const poolSize = options.poolSize ?? Math.min(20 * lists, 20_000);
    const { rows: pool } = await tx.query<{ doc_id: string }>(
      `SELECT doc_id FROM ${table} ORDER BY md5(doc_id), doc_id COLLATE "C" LIMIT $1`,
      [poolSize],
    );
    await tx.exec(
      'SET LOCAL ivfflat.probes = 1; SET LOCAL ivfflat.iterative_scan = off; SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off',
    );
    const sql = `SELECT e.doc_id FROM ${table} e
      ORDER BY e.embedding ${distanceOperator} (SELECT q.embedding FROM ${table} q WHERE q.doc_id = $1) LIMIT $2`;
    const { rows: plan } = await tx.query<Record<string, string>>(`EXPLAIN ${sql}`, ['', storeRows]);
    if (!plan.some((row) => Object.values(row).some((line) => line.includes(indexName))))
      throw new Error(`the probing search does not go through ${indexName}`);
    const seen = new Set<string>();
    const sizes: number[] = [];
    let probes = 0;
    for (const { doc_id } of pool) {
      if (sizes.length >= lists) break;
      if (seen.has(doc_id)) continue;
      probes++;
      const { rows } = await tx.query<{ doc_id: string }>(sql, [doc_id, Math.max(1, storeRows)]);
      // A row the index left out (a zero vector under cosine) finds some other list, or none.
      if (!rows.some((r) => r.doc_id === doc_id)) continue;
      for (const r of rows) seen.add(r.doc_id);
      sizes.push(rows.length);
    }
    sizes.sort((a, b) => a - b);
    const mean = sizes.length ? sizes.reduce((s, x) => s + x, 0) / sizes.length : 0;
    const variance = sizes.length ? sizes.reduce((s, x) => s + (x - mean) ** 2, 0) / sizes.length : 0;
    const rowsCovered = seen.size;
    return {
      lists,
      found: sizes.length,
      storeRows,
      rowsCovered,
      probes,
      min: sizes[0] ?? 0,
      p50: sizes.length ? sizes[Math.ceil(sizes.length / 2) - 1]! : 0,
      max: sizes[sizes.length - 1] ?? 0,
      mean,
      cv: mean > 0 ? Math.sqrt(variance) / mean : 0,
      method: rowsCovered === storeRows ? 'complete' : 'sampled',
    };
  });
}
