/** `reembed eval compare` and `reembed eval trend`: reading the eval history, no database needed. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { compareRuns, type RunComparison } from '../eval/history-compare.js';
import { selectRun } from '../eval/history-select.js';
import { DEFAULT_HISTORY_FILE, readHistory } from '../eval/history.js';
import { METRIC_NAMES } from '../eval/metrics.js';
import { metricTrend, trendSvg, type Trend } from '../eval/trend.js';

export interface EvalCompareOptions {
  /** The history file (default .reembed/eval-history.jsonl). */
  history?: string;
  /** A line number (1 the oldest, -1 the newest) or the start of a run's time; default -2. */
  before?: string;
  /** Default -1 (the newest run). */
  after?: string;
}

export type RunComparisonReport = RunComparison & { history: string };
export type TrendReport = Trend & { history: string; plot: string | null };

export function evalCompare(options: EvalCompareOptions = {}): RunComparisonReport {
  const history = resolve(options.history ?? DEFAULT_HISTORY_FILE);
  const entries = readHistory(history);
  const before = selectRun(entries, options.before ?? '-2');
  const after = selectRun(entries, options.after ?? '-1');
  return { history, ...compareRuns(before, after) };
}

export interface EvalTrendOptions {
  history?: string;
  profile: string;
  /** recall@1/5/10/50, mrr@10, ndcg@10, contain@50 (default recall@5). */
  metric?: string;
  /** Only runs of the last this many days (default 30). */
  days?: number;
  /** ANN search figures instead of exact ones (runs made with `eval --ann`). */
  ann?: boolean;
  /** Write an SVG plot here. */
  plot?: string;
  now?: number;
}

export function evalTrend(options: EvalTrendOptions): TrendReport {
  const metricName = options.metric ?? 'recall@5';
  const metric = METRIC_NAMES[metricName];
  if (!metric)
    throw new ConfigError(
      `unknown metric ${JSON.stringify(metricName)}: one of ${Object.keys(METRIC_NAMES).join(', ')}`,
    );
  const days = options.days ?? 30;
  if (!(days > 0)) throw new ConfigError(`--days must be a positive number, got ${days}`);
  const history = resolve(options.history ?? DEFAULT_HISTORY_FILE);
  const trend = metricTrend(readHistory(history), {
    profile: options.profile,
    metric,
    metricName,
    search: options.ann ? 'ann' : 'exact',
    sinceMs: days * 86_400_000,
    now: options.now,
  });
  let plot: string | null = null;
  if (options.plot && trend.points.length > 0) {
    plot = resolve(options.plot);
    writeFileSync(plot, trendSvg(trend));
  }
  return { history, plot, ...trend };
}
