import type { Metric, Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import type { SearchHit } from '../store/search.js';
import { storedVectors } from '../store/stored-vectors.js';
import { trecOrder } from './trec.js';

/**
 * How many candidates the database's exact search returns for a final top k. Scores from
 * different pgvector builds differ in the 6th-7th digit (see rescoreExact), so the k-th and
 * (k+1)-th documents may swap between databases; a deeper pool makes the final top k the
 * same unless dozens of documents fall within a millionth of each other.
 */
export function candidatePool(k: number): number {
  return 2 * k;
}

/**
 * Rescores a search's candidates in float64 from the stored vectors and keeps the best k, in
 * trec_eval's order. pgvector sums distances in float4 with SIMD, and the embedded
 * (WebAssembly) and server (x86) builds add in different orders, so the same vectors get
 * scores that differ by about 1e-6: enough to swap near-ties, and the same evaluation would
 * report different figures on the two databases. Here every score is computed in one fixed
 * order in double precision, so an evaluation's rankings depend on the vectors alone. It
 * agrees with the serving path's order except between documents whose scores are within that
 * float4 noise of each other.
 */
export async function rescoreExact(
  conn: Queryable,
  profile: Pick<Profile, 'name' | 'dims' | 'metric'>,
  query: Float32Array,
  candidates: readonly SearchHit[],
  k: number,
): Promise<SearchHit[]> {
  if (candidates.length === 0) return [];
  const vectors = await storedVectors(
    conn,
    profile,
    candidates.map((h) => h.id),
  );
  const queryNorm = dot(query, query);
  const scored = [...vectors].map(([id, vector]) => ({
    id,
    score: exactScore(profile.metric, query, queryNorm, vector),
  }));
  return trecOrder(scored).slice(0, k);
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** The score searchExact reports (higher is better), computed in float64. */
export function exactScore(metric: Metric, query: Float32Array, queryNorm: number, doc: Float32Array): number {
  if (metric === 'ip') return dot(query, doc);
  if (metric === 'l2') {
    let sum = 0;
    for (let i = 0; i < query.length; i++) sum += (query[i]! - doc[i]!) ** 2;
    return -Math.sqrt(sum);
  }
  // 1 - cosine distance, clamped as pgvector clamps the similarity.
  const similarity = dot(query, doc) / Math.sqrt(queryNorm * dot(doc, doc));
  return Math.max(-1, Math.min(1, similarity));
}
