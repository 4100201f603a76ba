import type { Profile } from '../config/profile.js';
import { DEFAULT_MAX_RECALL_LOSS, DEFAULT_TUNE_QUERIES, DEFAULT_TUNE_VALUES, DEFAULT_TUNE_PROBES } from './defaults.js';
import type { Database } from '../db/database.js';
import { ReembedError } from '../errors.js';
import { annUsesIndex } from './ann-plan.js';
import { indexKind } from '../store/index.js';
import type { IndexKind } from '../store/index-kind.js';
import {
  checkSearchValue,
  DEFAULT_ANN_K,
  mean,
  prepareAnnBaseline,
  runIndexPass,
  type AnnBaseline,
  type IndexPass,
} from './ann-check.js';
import { percentile } from './latency.js';

/**
 * `reembed tune`: sweeps the search parameter of the profile's index kind (hnsw.ef_search, or
 * ivfflat.probes) over a list of values, measuring recall@k against exact search (the same
 * sampled queries and agreement as the ANN check) and the latency of each index search, and
 * picks the smallest value that keeps recall within the allowed loss and p95 within the target.
 * The rule is the runbook's for both kinds ("the smallest nprobe with ΔR@10 ≥ −0.5 pp and P95 ≤
 * target"): exact search has recall 1 against itself, so ΔR@k ≥ −0.5 pp is recall@k ≥ 0.995.
 * What differs per kind is the parameter, its range and its default values.
 */

export { DEFAULT_TUNE_VALUES, DEFAULT_TUNE_PROBES, DEFAULT_MAX_RECALL_LOSS, DEFAULT_TUNE_QUERIES };
/** Room for floating-point sums: a mean of 0.995 computed from 199/200 ones must pass 0.005. */
const EPSILON = 1e-9;

export interface TuneCriteria {
  /** Largest accepted 1 − recall@k (default 0.005). */
  maxRecallLoss: number;
  /** Largest accepted p95 of the index search in milliseconds; null or undefined: no target. */
  p95TargetMs?: number | null;
}

export interface TuneRow {
  /** The value of the swept parameter (ef_search or probes). */
  value: number;
  /** Mean recall@k against exact search over the sampled queries. */
  recall: number;
  minRecall: number;
  p50Ms: number;
  p95Ms: number;
  meanMs: number;
  /** The measured searches went through the index (they are forced to; see ann-check.ts). */
  usedIndex: boolean;
  /** Without forcing, the planner would use the index at this value (what serving does). */
  plannerUsesIndex: boolean;
}

export interface TuneVerdict {
  value: number;
  recallOk: boolean;
  latencyOk: boolean;
  qualifies: boolean;
}

export interface SearchValueChoice {
  /** The smallest qualifying value, or null when none qualifies. */
  value: number | null;
  verdicts: TuneVerdict[];
  /** Why this value, or why none. */
  reason: string;
}

/**
 * The smallest value (of ef_search, or probes: `parameter` names it in the reason) whose recall
 * loss is at most `maxRecallLoss` and whose p95 is within `p95TargetMs` (when given). Pure: the
 * rows are whatever was measured, in any order.
 */
export function chooseSearchValue(
  rows: readonly TuneRow[],
  criteria: TuneCriteria,
  parameter: 'ef_search' | 'probes' = 'ef_search',
): SearchValueChoice {
  const target = criteria.p95TargetMs ?? null;
  const sorted = [...rows].sort((a, b) => a.value - b.value);
  const verdicts = sorted.map((row) => {
    const recallOk = 1 - row.recall <= criteria.maxRecallLoss + EPSILON;
    const latencyOk = target === null || row.p95Ms <= target;
    return { value: row.value, recallOk, latencyOk, qualifies: recallOk && latencyOk };
  });
  const chosen = verdicts.find((v) => v.qualifies) ?? null;
  const minRecall = (1 - criteria.maxRecallLoss).toFixed(4);
  if (chosen) {
    return {
      value: chosen.value,
      verdicts,
      reason:
        `${parameter} ${chosen.value} is the smallest value with recall@k >= ${minRecall}` +
        (target === null ? '' : ` and p95 <= ${target} ms`),
    };
  }
  let reason: string;
  if (sorted.length === 0) reason = 'no values were measured';
  else if (!verdicts.some((v) => v.recallOk))
    reason = `no value reaches recall@k ${minRecall} (best ${Math.max(...sorted.map((r) => r.recall)).toFixed(4)} at ${parameter} ${sorted.reduce((b, r) => (r.recall > b.recall ? r : b)).value}); try larger values`;
  else if (!verdicts.some((v) => v.latencyOk))
    reason = `no value has p95 within ${target} ms (fastest p95 ${Math.min(...sorted.map((r) => r.p95Ms)).toFixed(3)} ms)`;
  else
    reason = `the values with recall@k >= ${minRecall} (${verdicts
      .filter((v) => v.recallOk)
      .map((v) => v.value)
      .join(', ')}) all have p95 over ${target} ms`;
  return { value: null, verdicts, reason };
}

export interface TuneOptions {
  /**
   * Values to measure: ef_search, each at least k (default 10, 20, 40, 64, 100, 200, 400, those
   * >= k), or probes (default 1, 2, 4, 8, 12, 16, 32).
   */
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
  | { phase: 'warmup'; parameter: 'ef_search' | 'probes'; value: number }
  | { phase: 'measured'; parameter: 'ef_search' | 'probes'; row: TuneRow; done: number; total: number };

export interface TuneReport {
  profile: string;
  index: string;
  storeRows: number;
  k: number;
  queries: number;
  seed: number;
  /** The index kind tuned, and its swept parameter. */
  kind: 'hnsw' | 'ivfflat';
  parameter: 'ef_search' | 'probes';
  /** The profile's value before tuning (null: not set; reembed's default for the kind applies). */
  current: number | null;
  maxRecallLoss: number;
  p95TargetMs: number | null;
  /** Latency of the exact searches of the same queries, for reference (measured first, colder). */
  exact: { p50Ms: number; p95Ms: number; meanMs: number };
  rows: Array<TuneRow & TuneVerdict>;
  choice: number | null;
  reason: string;
  seconds: number;
}

function checkValues(kind: IndexKind, values: readonly number[], k: number): number[] {
  const name = kind.parameter.name;
  const list = [...new Set(values)].sort((a, b) => a - b);
  if (list.length === 0) throw new ReembedError('INVALID_TUNE_OPTION', `no ${name} values to measure`, { exitCode: 2 });
  for (const v of list) checkSearchValue(kind, v);
  const raised = list.filter((v) => kind.effective(v, k) !== v);
  if (raised.length) {
    // searchIndexed raises ef_search to k, so a smaller value is never what a search runs with.
    throw new ReembedError(
      'INVALID_TUNE_OPTION',
      `${name} values below k (${k}) are never used (searches raise ${name} to k): ${raised.join(', ')}`,
      { exitCode: 2 },
    );
  }
  return list;
}

function rowOf(pass: IndexPass, plannerUsesIndex: boolean): TuneRow {
  return {
    value: pass.value,
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
export async function tuneIndex(db: Database, profile: Profile, options: TuneOptions = {}): Promise<TuneReport> {
  const started = performance.now();
  const k = options.k ?? DEFAULT_ANN_K;
  const kind = indexKind(profile);
  // HNSW's default list starts at 10, the default k; with a larger k its smaller values drop out.
  const defaults = kind.parameter.defaults.filter((v) => kind.effective(v, k) === v);
  const values = checkValues(kind, options.values ?? (defaults.length ? defaults : [k]), k);
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
  progress({ phase: 'warmup', parameter: kind.parameter.name, value: values[values.length - 1]! });
  await runIndexPass(db, baseline, values[values.length - 1]!);

  const rows: TuneRow[] = [];
  for (const value of values) {
    const pass = await runIndexPass(db, baseline, value);
    const planner = await annUsesIndex(db, profile, baseline.queries[0]!.vector, k, value);
    rows.push(rowOf(pass, planner));
    progress({
      phase: 'measured',
      parameter: kind.parameter.name,
      row: rows[rows.length - 1]!,
      done: rows.length,
      total: values.length,
    });
  }
  const choice = chooseSearchValue(rows, { maxRecallLoss, p95TargetMs }, kind.parameter.name);
  return {
    profile: profile.name,
    index: baseline.index,
    storeRows: baseline.storeRows,
    k,
    queries: baseline.queries.length,
    seed: baseline.seed,
    kind: kind.type,
    parameter: kind.parameter.name,
    current: kind.configured(profile) ?? null,
    maxRecallLoss,
    p95TargetMs,
    exact: {
      p50Ms: percentile(baseline.exactMs, 50),
      p95Ms: percentile(baseline.exactMs, 95),
      meanMs: mean(baseline.exactMs),
    },
    rows: rows.map((row, i) => ({ ...row, ...choice.verdicts[i]! })),
    choice: choice.value,
    reason: choice.reason,
    seconds: (performance.now() - started) / 1000,
  };
}
