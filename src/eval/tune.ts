import type { Profile } from '../config/profile.js';
import { DEFAULT_MAX_RECALL_LOSS, DEFAULT_TUNE_QUERIES, DEFAULT_TUNE_VALUES } from './defaults.js';
import type { Database } from '../db/database.js';
import { ReembedError } from '../errors.js';
import { annUsesIndex } from './ann-plan.js';
import {
  checkEfSearch,
  DEFAULT_ANN_K,
  mean,
  prepareAnnBaseline,
  runIndexPass,
  type AnnBaseline,
  type IndexPass,
} from './ann-check.js';
import { percentile } from './latency.js';

/**
 * `reembed tune`: sweeps hnsw.ef_search over a list of values, measuring recall@k against
 * exact search (the same sampled queries and agreement as the ANN check) and the latency of
 * each index search, and picks the smallest value that keeps recall within the allowed loss
 * and p95 within the target. Only HNSW is tuned: reembed builds no IVFFlat indexes, so there is
 * no `probes` to sweep.
 */

export { DEFAULT_TUNE_VALUES, DEFAULT_MAX_RECALL_LOSS, DEFAULT_TUNE_QUERIES };
/** Room for floating-point sums: a mean of 0.995 computed from 199/200 ones must pass 0.005. */
const EPSILON = 1e-9;

export interface TuneCriteria {
  /** Largest accepted 1 − recall@k (default 0.005). */
  maxRecallLoss: number;
  /** Largest accepted p95 of the index search in milliseconds; null or undefined: no target. */
  p95TargetMs?: number | null;
}

export interface TuneRow {
  efSearch: number;
  /** Mean recall@k against exact search over the sampled queries. */
  recall: number;
  minRecall: number;
  p50Ms: number;
  p95Ms: number;
  meanMs: number;
  /** The measured searches went through the HNSW index (they are forced to; see ann-check.ts). */
  usedIndex: boolean;
  /** Without forcing, the planner would use the index at this value (what serving does). */
  plannerUsesIndex: boolean;
}

export interface TuneVerdict {
  efSearch: number;
  recallOk: boolean;
  latencyOk: boolean;
  qualifies: boolean;
}

export interface EfSearchChoice {
  /** The smallest qualifying value, or null when none qualifies. */
  efSearch: number | null;
  verdicts: TuneVerdict[];
  /** Why this value, or why none. */
  reason: string;
}

/**
 * The smallest ef_search whose recall loss is at most `maxRecallLoss` and whose p95 is within
 * `p95TargetMs` (when given). Pure: the rows are whatever was measured, in any order.
 */
export function chooseEfSearch(rows: readonly TuneRow[], criteria: TuneCriteria): EfSearchChoice {
  const target = criteria.p95TargetMs ?? null;
  const sorted = [...rows].sort((a, b) => a.efSearch - b.efSearch);
  const verdicts = sorted.map((row) => {
    const recallOk = 1 - row.recall <= criteria.maxRecallLoss + EPSILON;
    const latencyOk = target === null || row.p95Ms <= target;
    return { efSearch: row.efSearch, recallOk, latencyOk, qualifies: recallOk && latencyOk };
  });
  const chosen = verdicts.find((v) => v.qualifies) ?? null;
  const minRecall = (1 - criteria.maxRecallLoss).toFixed(4);
  if (chosen) {
    return {
      efSearch: chosen.efSearch,
      verdicts,
      reason:
        `ef_search ${chosen.efSearch} is the smallest value with recall@k >= ${minRecall}` +
        (target === null ? '' : ` and p95 <= ${target} ms`),
    };
  }
  let reason: string;
  if (sorted.length === 0) reason = 'no values were measured';
  else if (!verdicts.some((v) => v.recallOk))
    reason = `no value reaches recall@k ${minRecall} (best ${Math.max(...sorted.map((r) => r.recall)).toFixed(4)} at ef_search ${sorted.reduce((b, r) => (r.recall > b.recall ? r : b)).efSearch}); try larger values`;
  else if (!verdicts.some((v) => v.latencyOk))
    reason = `no value has p95 within ${target} ms (fastest p95 ${Math.min(...sorted.map((r) => r.p95Ms)).toFixed(3)} ms)`;
  else
    reason = `the values with recall@k >= ${minRecall} (${verdicts
      .filter((v) => v.recallOk)
      .map((v) => v.efSearch)
      .join(', ')}) all have p95 over ${target} ms`;
  return { efSearch: null, verdicts, reason };
}

export interface TuneOptions {
  /** ef_search values to measure, each at least k (default 10, 20, 40, 64, 100, 200, 400, those >= k). */
  values?: readonly number[];
  k?: number;
  queries?: number;
  seed?: number;
  maxRecallLoss?: number;
  p95TargetMs?: number | null;
  onProgress?: (event: TuneProgress) => void;
}

export type TuneProgress =
  | { phase: 'exact'; done: number; total: number }
  | { phase: 'warmup'; efSearch: number }
  | { phase: 'measured'; row: TuneRow; done: number; total: number };

export interface TuneReport {
  profile: string;
  index: string;
  storeRows: number;
  k: number;
  queries: number;
  seed: number;
  /** The profile's ef_search before tuning (null: pgvector's default, 40). */
  currentEfSearch: number | null;
  maxRecallLoss: number;
  p95TargetMs: number | null;
  /** Latency of the exact searches of the same queries, for reference (measured first, colder). */
  exact: { p50Ms: number; p95Ms: number; meanMs: number };
  rows: Array<TuneRow & TuneVerdict>;
  choice: number | null;
  reason: string;
  seconds: number;
}

function checkValues(values: readonly number[], k: number): number[] {
  const list = [...new Set(values)].sort((a, b) => a - b);
  if (list.length === 0)
    throw new ReembedError('INVALID_TUNE_OPTION', 'no ef_search values to measure', { exitCode: 2 });
  for (const v of list) checkEfSearch(v);
  const small = list.filter((v) => v < k);
  if (small.length) {
    // searchIndexed raises ef_search to k, so a smaller value is never what a search runs with.
    throw new ReembedError(
      'INVALID_TUNE_OPTION',
      `ef_search values below k (${k}) are never used (searches raise ef_search to k): ${small.join(', ')}`,
      { exitCode: 2 },
    );
  }
  return list;
}

function rowOf(pass: IndexPass, plannerUsesIndex: boolean): TuneRow {
  return {
    efSearch: pass.efSearch,
    recall: mean(pass.overlaps),
    minRecall: pass.overlaps.reduce((m, x) => Math.min(m, x), 1),
    p50Ms: percentile(pass.latenciesMs, 50),
    p95Ms: percentile(pass.latenciesMs, 95),
    meanMs: mean(pass.latenciesMs),
    usedIndex: pass.usedIndex,
    plannerUsesIndex,
  };
}

/**
 * Measures every value and chooses one; writes nothing (the CLI writes the choice to the
 * manifest). One untimed pass at the largest value first brings the index pages into memory,
 * so the first value measured does not pay for a cold cache that the later ones do not.
 */
export async function tuneEfSearch(db: Database, profile: Profile, options: TuneOptions = {}): Promise<TuneReport> {
  const started = performance.now();
  const k = options.k ?? DEFAULT_ANN_K;
  // The default list starts at 10, the default k; with a larger k its smaller values drop out.
  const defaults = DEFAULT_TUNE_VALUES.filter((v) => v >= k);
  const values = checkValues(options.values ?? (defaults.length ? defaults : [k]), k);
  const maxRecallLoss = options.maxRecallLoss ?? DEFAULT_MAX_RECALL_LOSS;
  if (!(maxRecallLoss >= 0 && maxRecallLoss <= 1))
    throw new ReembedError('INVALID_TUNE_OPTION', `the recall loss must be in [0, 1], got ${maxRecallLoss}`, {
      exitCode: 2,
    });
  const p95TargetMs = options.p95TargetMs ?? null;
  if (p95TargetMs !== null && !(p95TargetMs > 0))
    throw new ReembedError(
      'INVALID_TUNE_OPTION',
      `the p95 target must be a positive number of ms, got ${p95TargetMs}`,
      {
        exitCode: 2,
      },
    );
  const progress = options.onProgress ?? (() => {});

  const baseline: AnnBaseline = await prepareAnnBaseline(db, profile, {
    queries: options.queries ?? DEFAULT_TUNE_QUERIES,
    k,
    seed: options.seed,
    onProgress: (done, total) => progress({ phase: 'exact', done, total }),
  });
  progress({ phase: 'warmup', efSearch: values[values.length - 1]! });
  await runIndexPass(db, baseline, values[values.length - 1]!);

  const rows: TuneRow[] = [];
  for (const efSearch of values) {
    const pass = await runIndexPass(db, baseline, efSearch);
    const planner = await annUsesIndex(db, profile, baseline.queries[0]!.vector, k, efSearch);
    rows.push(rowOf(pass, planner));
    progress({ phase: 'measured', row: rows[rows.length - 1]!, done: rows.length, total: values.length });
  }
  const choice = chooseEfSearch(rows, { maxRecallLoss, p95TargetMs });
  return {
    profile: profile.name,
    index: baseline.index,
    storeRows: baseline.storeRows,
    k,
    queries: baseline.queries.length,
    seed: baseline.seed,
    currentEfSearch: profile.ef_search ?? null,
    maxRecallLoss,
    p95TargetMs,
    exact: {
      p50Ms: percentile(baseline.exactMs, 50),
      p95Ms: percentile(baseline.exactMs, 95),
      meanMs: mean(baseline.exactMs),
    },
    rows: rows.map((row, i) => ({ ...row, ...choice.verdicts[i]! })),
    choice: choice.efSearch,
    reason: choice.reason,
    seconds: (performance.now() - started) / 1000,
  };
}
