import type { Profile } from '../config/profile.js';
import { DEFAULT_ANN_K, DEFAULT_ANN_QUERIES, DEFAULT_ANN_SEED, DEFAULT_ANN_THRESHOLD } from './defaults.js';
import type { Database, Queryable } from '../db/database.js';
import { vectorLiteral } from '../db/sql.js';
import { ReembedError, type ReembedErrorCode } from '../errors.js';
import { seededRandom } from '../random.js';
import { indexKind, indexStatus, searchValue } from '../store/index.js';
import type { IndexKind } from '../store/index-kind.js';
import { searchExact, type SearchHit } from '../store/search.js';
import { registeredFingerprint } from '../store/registry.js';
import { FingerprintMismatchError, storeLayout } from '../store/store.js';
import { StoreMissingError } from '../store/verify.js';
import { storedVectors } from '../store/stored-vectors.js';
import { annUsesIndex } from './ann-plan.js';

/**
 * ANN agreement: how often search through a profile's index (HNSW or IVFFlat) returns what exact search
 * returns. Queries are vectors sampled from the store itself (deterministically, by seed), so
 * the check needs no provider and no API key, and it measures the index on the distribution of
 * vectors it actually holds. Each sampled document is its own nearest neighbour, in both
 * searches alike; it is not left out (a real query is not in the store either, but leaving it
 * out would only shift every figure by the same one hit in k).
 *
 * The index searches run with sequential scans and sorts disabled (SET LOCAL, in their own
 * transaction), so the planner goes through the index even on a store small enough that it
 * would otherwise sort every row, which would make the "ANN" figures exact by construction.
 * The report says both: `usedIndex` (EXPLAIN of the measured statement shows the index) and
 * `plannerUsesIndex` (whether serving, which forces nothing, goes through it at this size).
 */

export { DEFAULT_ANN_K, DEFAULT_ANN_QUERIES, DEFAULT_ANN_THRESHOLD, DEFAULT_ANN_SEED };
/** pgvector's default hnsw.ef_search, used when the profile sets none. */
export const PGVECTOR_DEFAULT_EF_SEARCH = 40;
/** pgvector accepts hnsw.ef_search from 1 to 1000. */
export const MAX_EF_SEARCH = 1000;

export interface AnnCheckOptions {
  /** How many stored vectors to use as queries (default 100; fewer when the store is smaller). */
  queries?: number;
  /** Results compared per query (default 10). */
  k?: number;
  /** hnsw.ef_search (default: the profile's ef_search, else 40; raised to k, as serving does). HNSW only. */
  efSearch?: number;
  /** ivfflat.probes (default: the profile's index.probes, else 10). IVFFlat only. */
  probes?: number;
  /** Least mean overlap@k that passes (default 0.95). */
  threshold?: number;
  /** Seed of the query sample (default 1): the same seed on the same store gives the same queries. */
  seed?: number;
  /** Called as exact searches complete (the slow part on a large store). */
  onProgress?: (done: number, total: number) => void;
}

export interface AnnCheckReport {
  profile: string;
  index: string;
  storeRows: number;
  k: number;
  /** Queries actually run (the requested sample, or every row of a smaller store). */
  queries: number;
  seed: number;
  /** The kind of the index measured. */
  kind: 'hnsw' | 'ivfflat';
  /** The kind's search parameter and the value measured. */
  parameter: 'ef_search' | 'probes';
  value: number;
  /** The value for an HNSW index (null for another kind); kept for callers written before IVFFlat. */
  efSearch: number | null;
  /** Mean overlap@k of index search with exact search, in [0, 1]; ties at the k-th distance agree (see agreementAtK). */
  overlap: number;
  minOverlap: number;
  threshold: number;
  ok: boolean;
  /** The measured searches went through the index (EXPLAIN of the measured statement). */
  usedIndex: boolean;
  /** Without forcing, the planner uses the index for this profile at this value (serving). */
  plannerUsesIndex: boolean;
  /** Up to 5 sampled documents whose query agreed least, lowest first. */
  worst: Array<{ docId: string; overlap: number }>;
  seconds: number;
}

export interface SampledQuery {
  /** The stored document whose vector is the query. */
  docId: string;
  vector: Float32Array;
}

/** A sample of queries with their exact top k: what every ANN measurement compares against. */
export interface AnnBaseline {
  profile: Profile;
  index: string;
  storeRows: number;
  k: number;
  seed: number;
  queries: SampledQuery[];
  exact: SearchHit[][];
  /** Milliseconds of each exact search (searchExact: one statement, as an index SELECT is). */
  exactMs: number[];
}

/** One pass of index searches over a baseline's queries at one value of the kind's parameter. */
export interface IndexPass {
  value: number;
  /** overlap@k per query, in the baseline's query order. */
  overlaps: number[];
  /** Milliseconds of each index SELECT (settings are applied once per pass, not timed). */
  latenciesMs: number[];
  usedIndex: boolean;
}

function usage(code: ReembedErrorCode, message: string): ReembedError {
  return new ReembedError(code, message, { exitCode: 2 });
}

function checkWhole(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw usage('INVALID_ANN_OPTION', `${name} must be a whole number from ${min} to ${max}, got ${value}`);
  return value;
}

export function checkEfSearch(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_EF_SEARCH)
    throw usage('INVALID_EF_SEARCH', `ef_search must be a whole number from 1 to ${MAX_EF_SEARCH}, got ${value}`);
  return value;
}

/** A value of the kind's search parameter (ef_search 1-1000, probes 1-32768). */
export function checkSearchValue(kind: IndexKind, value: number): number {
  const { name, min, max } = kind.parameter;
  if (!Number.isInteger(value) || value < min || value > max)
    throw usage(
      name === 'ef_search' ? 'INVALID_EF_SEARCH' : 'INVALID_PROBES',
      `${name} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  return value;
}

/** The label of a kind in messages. */
export function kindLabel(kind: IndexKind): string {
  return kind.type === 'hnsw' ? 'HNSW' : 'IVFFlat';
}

/**
 * How far below the exact k-th score a hit may score and still count as a tie. The index orders
 * candidates by distances it computes itself, in float4 with its own summation order, and these
 * differ from the executor's (which the scores are) by about 1e-7; two documents that close are
 * tied for any purpose, and calling the index's order of them a miss would measure rounding.
 */
export const TIE_TOLERANCE = 1e-5;

/**
 * Agreement of an approximate top k with the exact one: the share of the exact top k that the
 * approximate list matches, where a hit counts when it is in the exact top k or scores at least
 * as well as the exact k-th hit, within TIE_TOLERANCE (another document at the k-th distance is
 * an equally correct answer; exact search breaks such ties by id, an index scan by graph order).
 * Duplicate ids count once. With fewer than k stored rows, the denominator is what exact search
 * returned.
 */
export function agreementAtK(exact: readonly SearchHit[], approx: readonly SearchHit[], k: number): number {
  const truth = exact.slice(0, k);
  if (truth.length === 0) return approx.length === 0 ? 1 : 0;
  const ids = new Set(truth.map((h) => h.id));
  const kth = truth[truth.length - 1]!.score;
  const seen = new Set<string>();
  let agreeing = 0;
  for (const hit of approx.slice(0, k)) {
    if (seen.has(hit.id)) continue;
    seen.add(hit.id);
    if (ids.has(hit.id) || hit.score >= kth - TIE_TOLERANCE) agreeing++;
  }
  return Math.min(1, agreeing / truth.length);
}

/**
 * `count` distinct positions in [0, size), chosen by seed (Floyd's algorithm: O(count) memory
 * whatever the size), in ascending order.
 */
export function samplePositions(size: number, count: number, seed: number): number[] {
  const n = Math.min(size, count);
  const random = seededRandom(seed);
  const chosen = new Set<number>();
  for (let j = size - n; j < size; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * Samples stored vectors as queries. Positions are drawn by seed over the store's rows in
 * doc_id order under the "C" collation (byte order, the same on every database), so a seed
 * picks the same documents on PGlite and on any server.
 */
export async function sampleQueries(
  conn: Queryable,
  profile: Pick<Profile, 'name' | 'dims' | 'metric'>,
  count: number,
  seed: number,
): Promise<{ storeRows: number; queries: SampledQuery[] }> {
  const { table } = storeLayout(profile);
  const { rows: counted } = await conn.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`);
  const storeRows = Number(counted[0]!.n);
  const positions = samplePositions(storeRows, count, seed);
  if (positions.length === 0) return { storeRows, queries: [] };
  // Ids first (a sort of ids only), then their vectors by primary key: sorting whole rows would
  // carry every vector through the sort.
  const { rows: picked } = await conn.query<{ doc_id: string }>(
    `SELECT doc_id FROM (
       SELECT doc_id, row_number() OVER (ORDER BY doc_id COLLATE "C") - 1 AS pos FROM ${table}
     ) numbered WHERE pos = ANY($1::bigint[]) ORDER BY pos`,
    [positions],
  );
  const vectors = await storedVectors(
    conn,
    profile,
    picked.map((r) => r.doc_id),
  );
  // Rows deleted between the two statements are simply left out.
  const queries = picked
    .filter((r) => vectors.has(r.doc_id))
    .map((r) => ({ docId: r.doc_id, vector: vectors.get(r.doc_id)! }));
  return { storeRows, queries };
}

/** The store must exist under this fingerprint and have a valid index of the profile's kind and build options. */
async function checkIndexedStore(conn: Queryable, profile: Profile): Promise<string> {
  const layout = storeLayout(profile);
  if (layout.index === 'exact') {
    throw usage(
      'ANN_NOT_INDEXABLE',
      `profile ${profile.name} has ${profile.dims} dims, more than pgvector indexes (4,000): its searches are exact, so there is no index to check or tune`,
    );
  }
  const row = await registeredFingerprint(conn, profile.name);
  if (!row || !row.present) throw new StoreMissingError(profile.name);
  if (row.fingerprint !== profile.fingerprint)
    throw new FingerprintMismatchError(profile.name, row.fingerprint, profile.fingerprint);
  const status = await indexStatus(conn, profile);
  const kind = indexKind(profile);
  if (!status.exists) {
    throw new ReembedError(
      'ANN_INDEX_MISSING',
      `profile ${profile.name} has no ${kindLabel(kind)} index (${status.name}): its searches are exact scans, so there is no ANN agreement to measure. ` +
        `\`reembed backfill\` and \`reembed worker\` build it once the backfill is complete; to build it now, run \`reembed backfill --profile ${profile.name}\` (embeds nothing if the store is current)`,
      { details: { profile: profile.name, index: status.name } },
    );
  }
  if (!status.valid) {
    throw new ReembedError(
      'ANN_INDEX_INVALID',
      `profile ${profile.name}: the index ${status.name} is INVALID (left by a failed concurrent build) and is not used; ` +
        `rebuild it with \`reembed backfill --profile ${profile.name}\``,
      { details: { profile: profile.name, index: status.name } },
    );
  }
  if (!status.current) {
    throw new ReembedError(
      'ANN_INDEX_STALE',
      `profile ${profile.name}: the index ${status.name} (${status.type} ${JSON.stringify(status.options)}) is not the ${kindLabel(kind)} index the manifest asks for; ` +
        `rebuild it with \`reembed backfill --profile ${profile.name}\` (embeds nothing if the store is current)`,
      { details: { profile: profile.name, index: status.name } },
    );
  }
  return status.name;
}

/**
 * Samples queries and runs their exact searches: the reference every index pass is compared
 * with. Refuses a profile without a usable index, and a store without vectors.
 */
export async function prepareAnnBaseline(
  db: Database,
  profile: Profile,
  options: { queries?: number; k?: number; seed?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<AnnBaseline> {
  const k = checkWhole('k', options.k ?? DEFAULT_ANN_K, 1, MAX_EF_SEARCH);
  const count = checkWhole('the number of queries', options.queries ?? DEFAULT_ANN_QUERIES, 1);
  const seed = checkWhole('seed', options.seed ?? DEFAULT_ANN_SEED, 0, 2 ** 32 - 1);
  const index = await checkIndexedStore(db, profile);
  const { storeRows, queries } = await sampleQueries(db, profile, count, seed);
  if (queries.length === 0) {
    throw new ReembedError(
      'ANN_NO_VECTORS',
      `profile ${profile.name}: the store holds no vectors, so there is nothing to search`,
      { details: { profile: profile.name } },
    );
  }
  const exact: SearchHit[][] = [];
  const exactMs: number[] = [];
  for (const query of queries) {
    const started = performance.now();
    exact.push(await searchExact(db, profile, query.vector, k));
    exactMs.push(performance.now() - started);
    options.onProgress?.(exact.length, queries.length);
  }
  return { profile, index, storeRows, k, seed, queries, exact, exactMs };
}

/**
 * Runs every baseline query through the index at one value of its kind's search parameter
 * (hnsw.ef_search, ivfflat.probes), in one transaction whose
 * SET LOCAL settings force the index scan, timing each SELECT alone. The statement is the one
 * searchIndexed runs; searchIndexed itself lets the planner choose (and at ef_search 40 runs
 * without a transaction), so it cannot force the scan.
 */
export async function runIndexPass(db: Database, baseline: AnnBaseline, value: number): Promise<IndexPass> {
  const { profile, k } = baseline;
  const kind = indexKind(profile);
  checkSearchValue(kind, value);
  const { table, distanceOperator, columnType } = storeLayout(profile);
  const sql = `SELECT e.doc_id AS id, (e.embedding ${distanceOperator} $1::${columnType}) AS distance
     FROM ${table} e ORDER BY e.embedding ${distanceOperator} $1::${columnType} LIMIT $2`;
  return db.transaction(async (tx) => {
    await tx.exec(
      [...kind.sessionSettings(value, false), 'SET LOCAL enable_seqscan = off', 'SET LOCAL enable_sort = off'].join(
        '; ',
      ),
    );
    const { rows: plan } = await tx.query<Record<string, string>>(`EXPLAIN ${sql}`, [
      vectorLiteral(baseline.queries[0]!.vector),
      k,
    ]);
    const usedIndex = plan.some((row) => Object.values(row).some((line) => line.includes(baseline.index)));
    const overlaps: number[] = [];
    const latenciesMs: number[] = [];
    for (const [i, query] of baseline.queries.entries()) {
      const literal = vectorLiteral(query.vector);
      const started = performance.now();
      const { rows } = await tx.query<{ id: string; distance: number }>(sql, [literal, k]);
      latenciesMs.push(performance.now() - started);
      const hits = rows.map((r) => ({ id: r.id, score: toScore(profile.metric, Number(r.distance)) }));
      overlaps.push(agreementAtK(baseline.exact[i]!, hits, k));
    }
    return { value, overlaps, latenciesMs, usedIndex };
  });
}

/** The score searchExact reports for a distance (the same arithmetic, so equal distances tie). */
function toScore(metric: Profile['metric'], distance: number): number {
  return metric === 'cosine' ? 1 - distance : -distance;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, x) => s + x, 0) / values.length : 0;
}

/**
 * Measures how well the profile's index agrees with exact search: mean overlap@k over
 * stored vectors sampled as queries, at the profile's ef_search (or the given one). `ok` when
 * the mean is at least the threshold. Throws a ReembedError when there is nothing to measure:
 * no store (STORE_MISSING), no index (ANN_INDEX_MISSING) or an INVALID one (ANN_INDEX_INVALID),
 * no vectors (ANN_NO_VECTORS), all exit code 1; a profile pgvector cannot index
 * (ANN_NOT_INDEXABLE) and bad options, exit code 2.
 */
export async function checkAnn(db: Database, profile: Profile, options: AnnCheckOptions = {}): Promise<AnnCheckReport> {
  const started = performance.now();
  const threshold = options.threshold ?? DEFAULT_ANN_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < 0)
    throw usage('INVALID_ANN_OPTION', `the ANN threshold must be a number of at least 0, got ${threshold}`);
  const k = options.k ?? DEFAULT_ANN_K;
  const kind = indexKind(profile);
  const other = kind.type === 'hnsw' ? options.probes : options.efSearch;
  if (other !== undefined)
    throw usage(
      'INVALID_ANN_OPTION',
      `profile ${profile.name} has an ${kindLabel(kind)} index, which takes ${kind.parameter.name}, not ${kind.type === 'hnsw' ? 'probes' : 'ef_search'}`,
    );
  const value = searchValue(profile, k, kind.type === 'hnsw' ? options.efSearch : options.probes);
  checkSearchValue(kind, value);
  const baseline = await prepareAnnBaseline(db, profile, { ...options, k });
  const pass = await runIndexPass(db, baseline, value);
  const overlap = mean(pass.overlaps);
  const worst = baseline.queries
    .map((q, i) => ({ docId: q.docId, overlap: pass.overlaps[i]! }))
    .filter((w) => w.overlap < 1)
    .sort((a, b) => a.overlap - b.overlap)
    .slice(0, 5);
  return {
    profile: profile.name,
    index: baseline.index,
    storeRows: baseline.storeRows,
    k,
    queries: baseline.queries.length,
    seed: baseline.seed,
    kind: kind.type,
    parameter: kind.parameter.name,
    value,
    efSearch: kind.type === 'hnsw' ? value : null,
    overlap,
    minOverlap: pass.overlaps.reduce((m, x) => Math.min(m, x), 1),
    threshold,
    ok: overlap >= threshold,
    usedIndex: pass.usedIndex,
    plannerUsesIndex: await annUsesIndex(db, profile, baseline.queries[0]!.vector, k, value),
    worst,
    seconds: (performance.now() - started) / 1000,
  };
}
