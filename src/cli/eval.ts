import { existsSync } from 'node:fs';
import { DEFAULT_CONFIG_FILE, DEFAULT_HISTORY_FILE } from '../facade/shell.js';
import type { OpenOptions, EvalReport, RunComparisonReport } from '../reembed.js';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { CliContext } from './context.js';
import { fixed, table } from './format.js';
import { positiveInt } from './options.js';

interface EvalCommandOptions {
  dataset?: string;
  profiles?: string[];
  split: string;
  ann?: boolean;
  efSearch?: number;
  probes?: number;
  run?: string;
  history: string | false;
  by?: string;
}

function profileList(value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new InvalidArgumentError(`not a comma-separated list of profiles: ${value}`);
  return names;
}

/**
 * The manifest's profiles; without a manifest (no --config and no reembed.yaml here), the
 * demo's two built-in hash profiles, so a dataset can be evaluated before `reembed init`.
 */
async function evalManifest(ctx: CliContext): Promise<{ config: OpenOptions['config']; builtIn: boolean }> {
  if (ctx.options.config || existsSync(resolve(DEFAULT_CONFIG_FILE)))
    return { config: ctx.options.config, builtIn: false };
  const { DEMO_MANIFEST } = await import('../demo/demo.js');
  return { config: DEMO_MANIFEST, builtIn: true };
}

export function registerEval(program: Command): void {
  const evalCommandDef = program
    .command('eval')
    .summary('offline evaluation of profiles on a BEIR dataset: Recall, MRR, nDCG, latency, agreement')
    .description(
      'Load a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) into a throwaway in-memory database ' +
        '(or an empty one given with --db), backfill each profile, embed every judged query with its query prefix and ' +
        'search the exact top 50. Prints Recall@1/5/10/50, MRR@10, nDCG@10, Contain@50 and embed/search latency per ' +
        'profile, and overlap@10, RBO and per-query nDCG@10 wins/losses/ties between profiles (the earlier one as ' +
        'control). Without a reembed.yaml the built-in hash profiles hash_small and hash_large are available.',
    )
    // Checked in the action, not by commander: `eval compare` and `eval trend` do not take them.
    .option('--dataset <dir>', 'a BEIR dataset directory (required)')
    .option(
      '--profiles <a,b>',
      'profiles to evaluate, comma-separated; the first is the control (required)',
      profileList,
    )
    .option('--split <name>', 'the judgments to use: qrels/<name>.tsv', 'test')
    .option('--ann', 'also search through each profile’s index, HNSW or IVFFlat (built after its backfill)')
    .option('--ef-search <n>', 'hnsw.ef_search of the --ann searches of HNSW profiles (at least 50)', positiveInt)
    .option('--probes <n>', 'ivfflat.probes of the --ann searches of IVFFlat profiles', positiveInt)
    .option('--run <dir>', 'write one TREC run file per profile there (<profile>.trec; <profile>-ann.trec with --ann)')
    .option('--history <file>', 'append one JSON line per run to this file', DEFAULT_HISTORY_FILE)
    .option('--no-history', 'do not append to the history file')
    .option(
      '--by <field>',
      'also report every metric per value of a corpus metadata field (e.g. metadata.category); a query takes the values of its relevant documents',
    )
    .action(async (opts: EvalCommandOptions, command: Command) => {
      for (const [key, flag] of [
        ['dataset', '--dataset <dir>'],
        ['profiles', '--profiles <a,b>'],
      ] as const)
        if (opts[key] === undefined) command.error(`error: required option '${flag}' not specified`, { exitCode: 2 });
      await evalCommand(new CliContext(command), opts as EvalCommandOptions & { dataset: string; profiles: string[] });
    });
  registerEvalHistory(evalCommandDef);
}

function registerEvalHistory(evalCommandDef: Command): void {
  evalCommandDef
    .command('compare')
    .summary('two runs of the eval history side by side: metric deltas per profile, per-query wins and losses')
    .description(
      'Compare two lines of the eval history (default: the newest with the one before it). For each profile in ' +
        'both: every metric before, after and the change, exact search and ANN when both runs had it; and, when both ' +
        'lines kept per-query nDCG@10, how many queries got better, worse or stayed, with the worst losses. RUN is a ' +
        'line number (1 the oldest, -1 the newest) or the start of a run’s time, e.g. 2026-12-01.',
    )
    .option('--history <file>', 'the history file', DEFAULT_HISTORY_FILE)
    .option('--before <run>', 'the earlier run', '-2')
    .option('--after <run>', 'the later run', '-1')
    .action(async (opts: { history: string; before: string; after: string }, command: Command) => {
      const ctx = new CliContext(command);
      const rb = await ctx.open({ config: (await evalManifest(ctx)).config });
      const report = await rb.evalHistory.compare({ ...opts, history: historyOption(command, opts.history) });
      ctx.result(report, () => humanComparison(report));
    });
  evalCommandDef
    .command('trend')
    .summary('one metric of one profile over the eval history, beside its 7-day rolling median; an SVG plot')
    .description(
      'The metric of each run of the profile in the last --days, with the median of that profile’s runs in the 7 ' +
        'days up to each (what a "drop vs the 7-day median" alert compares with), as a table, and with --plot as an ' +
        'SVG file. Metrics: recall@1, recall@5, recall@10, recall@50, mrr@10, ndcg@10, contain@50.',
    )
    .requiredOption('-p, --profile <name>', 'the profile')
    .option('--metric <name>', 'the metric', 'recall@5')
    .option('--days <n>', 'runs of the last this many days', positiveInt, 30)
    .option('--ann', 'the ANN search figures (runs made with eval --ann) instead of exact search')
    .option('--plot <file.svg>', 'write an SVG plot of the series and its median')
    .option('--history <file>', 'the history file', DEFAULT_HISTORY_FILE)
    .action(
      async (
        opts: { profile: string; metric: string; days: number; ann?: boolean; plot?: string; history: string },
        command: Command,
      ) => {
        const ctx = new CliContext(command);
        const rb = await ctx.open({ config: (await evalManifest(ctx)).config });
        const trend = await rb.evalHistory.trend({ ...opts, history: historyOption(command, opts.history) });
        ctx.result(trend, () =>
          trend.points.length === 0
            ? `no run of ${trend.profile} in the last ${opts.days} days of ${trend.history}`
            : [
                `${trend.metric} of ${trend.profile} (${trend.search} search), ${trend.points.length} runs:`,
                table(
                  ['time', trend.metric, '7-day median', 'vs median', 'fingerprint'],
                  trend.points.map((p) => [
                    p.time,
                    fixed(p.value, 4),
                    fixed(p.median7d, 4),
                    signed(p.deltaFromMedian),
                    p.fingerprint,
                  ]),
                ),
                ...(trend.plot ? [`plot: ${trend.plot}`] : []),
              ].join('\n'),
        );
      },
    );
}

/**
 * `eval` has a --history of its own, and commander gives an option both define to the parent:
 * the file named on the command line, wherever it stood.
 */
function historyOption(command: Command, own: string): string {
  const parent = command.parent;
  if (parent?.getOptionValueSource('history') === 'cli') {
    const value: unknown = parent.getOptionValue('history');
    if (typeof value === 'string') return value;
  }
  return own;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
}

function humanComparison(report: RunComparisonReport): string {
  const lines = [
    `eval compare: run ${report.before.line} (${report.before.time}) → run ${report.after.line} (${report.after.time}) of ${report.history}`,
    ...report.warnings.map((w) => `warning: ${w}`),
  ];
  for (const p of report.profiles) {
    lines.push(
      `\n${p.profile}${p.fingerprintChanged ? ' (its configuration changed between the runs)' : ''}:`,
      table(
        ['metric', 'before', 'after', 'change', ...(p.ann ? ['ann change'] : [])],
        p.exact.map((d, i) => [
          d.metric,
          fixed(d.before, 4),
          fixed(d.after, 4),
          signed(d.delta),
          ...(p.ann ? [signed(p.ann[i]!.delta)] : []),
        ]),
      ),
      p.perQuery
        ? `per query (nDCG@10): ${p.perQuery.wins} better, ${p.perQuery.losses} worse, ${p.perQuery.ties} unchanged` +
            (p.perQuery.worst.length
              ? `; worst: ${p.perQuery.worst.map((w) => `${JSON.stringify(w.query)} ${signed(w.delta)}`).join(', ')}`
              : '')
        : 'per query: not in both lines (runs before per-query figures were kept)',
    );
  }
  if (report.onlyBefore.length) lines.push(`only in the earlier run: ${report.onlyBefore.join(', ')}`);
  if (report.onlyAfter.length) lines.push(`only in the later run: ${report.onlyAfter.join(', ')}`);
  if (report.profiles.length === 0) lines.push('no profile is in both runs');
  return lines.join('\n');
}

async function evalCommand(
  ctx: CliContext,
  opts: Required<Pick<EvalCommandOptions, 'dataset' | 'profiles'>> & EvalCommandOptions,
): Promise<void> {
  const { config, builtIn } = await evalManifest(ctx);
  const rb = await ctx.open({ config });
  if (builtIn) ctx.info(`no ${DEFAULT_CONFIG_FILE}: using the built-in profiles hash_small and hash_large`);
  const result = await rb.eval({
    dataset: opts.dataset,
    profiles: opts.profiles,
    split: opts.split,
    // Only an explicit --db moves the evaluation out of its throwaway in-memory database.
    database: ctx.options.db,
    ann: opts.ann,
    efSearch: opts.efSearch,
    probes: opts.probes,
    runDir: opts.run,
    history: opts.history,
    by: opts.by,
    onDataset: (dataset) => {
      for (const w of dataset.warnings) ctx.info(`warning: ${w}`);
      ctx.info(
        `eval ${dataset.name} (${dataset.split}): ${dataset.queries.length} judged queries, profiles ${opts.profiles.join(', ')}`,
      );
    },
    reporter: ctx.reporter(),
  });
  ctx.result(result, () => humanReport(result, result.files.runs, result.files.history));
}

function orDash(value: number | null): string {
  return value === null ? '-' : fixed(value, 3);
}

function ms(latency: { p50Ms: number; p95Ms: number }): string {
  return `${latency.p50Ms.toFixed(2)} / ${latency.p95Ms.toFixed(2)}`;
}

function metricsTable(report: EvalReport, pick: 'exact' | 'ann'): string {
  const rows = report.profiles.flatMap((p) => {
    const s = pick === 'exact' ? p.exact : p.ann;
    if (!s) return [];
    const m = s.metrics;
    return [
      [
        p.profile,
        p.dims,
        fixed(m.recallAt1),
        fixed(m.recallAt5),
        fixed(m.recallAt10),
        fixed(m.recallAt50),
        fixed(m.mrrAt10),
        fixed(m.ndcgAt10),
        fixed(m.containAt50),
        ms(p.embedLatency),
        ms(s.latency),
        // queries / (embed + search time): the mean latencies are over the same queries.
        (1000 / Math.max(p.embedLatency.meanMs + s.latency.meanMs, 1e-9)).toFixed(0),
      ],
    ];
  });
  return table(
    [
      'profile',
      'dims',
      'R@1',
      'R@5',
      'R@10',
      'R@50',
      'MRR@10',
      'nDCG@10',
      'Contain@50',
      'embed p50/p95 ms',
      'search p50/p95 ms',
      'q/s',
    ],
    rows,
  );
}

/** `--by`: one table per profile, with the change from the first profile (the control) per category. */
function categoryTables(report: EvalReport): string[] {
  const control = new Map((report.profiles[0]?.byCategory ?? []).map((c) => [c.category, c.metrics]));
  const lines = [
    `per ${report.by!.field} (exact search; ${report.by!.categories} categories; a query counts in each category of its relevant documents):`,
  ];
  for (const [i, p] of report.profiles.entries()) {
    lines.push(
      `${p.profile}:`,
      table(
        ['category', 'queries', 'R@5', 'R@10', 'MRR@10', 'nDCG@10', ...(i > 0 ? ['ΔnDCG@10'] : [])],
        (p.byCategory ?? []).map((c) => {
          const base = control.get(c.category);
          return [
            c.category,
            c.queries,
            fixed(c.metrics.recallAt5),
            fixed(c.metrics.recallAt10),
            fixed(c.metrics.mrrAt10),
            fixed(c.metrics.ndcgAt10),
            ...(i > 0 ? [base ? signed(c.metrics.ndcgAt10 - base.ndcgAt10) : '-'] : []),
          ];
        }),
      ),
    );
  }
  return lines;
}

function humanReport(report: EvalReport, runFiles: string[], history: string | null): string {
  const d = report.dataset;
  const lines = [
    `reembed eval: ${d.name} (${d.split}), ${d.documents} documents, ${d.queries} queries ` +
      `(${report.profiles[0]?.exact.metrics.judgedQueries ?? 0} with relevant documents) on ${report.database.target}, ${report.seconds.toFixed(1)} s`,
    '',
    `exact search, top ${report.k}:`,
    metricsTable(report, 'exact'),
    ...report.profiles.map(
      (p) =>
        `${p.profile}: mean top-1 score ${orDash(p.quality.top1Score)}, mean pairwise cosine of the top 5 ${orDash(p.quality.top5PairwiseCosine)}`,
    ),
  ];
  if (report.ann) {
    lines.push(
      '',
      `ANN search through each profile's index (${report.profiles.map((p) => (p.ann ? `${p.profile}: ${p.ann.index} ${p.ann.parameter} ${p.ann.value}` : `${p.profile}: -`)).join('; ')}), top ${report.k}:`,
    );
    lines.push(metricsTable(report, 'ann'));
    const exactScans = report.profiles.filter((p) => p.ann && !p.ann.indexScan).map((p) => p.profile);
    if (exactScans.length) {
      lines.push(
        `note: for ${exactScans.join(', ')} the planner chose a sequential scan over the index (a small store), so those ANN searches were exact`,
      );
    }
  }
  const staged = report.profiles.filter((p) => p.rerank);
  if (staged.length) {
    lines.push('', 'rerank stage (exact top top_n, before → after, lift in points):');
    lines.push(
      table(
        ['profile', 'reranker', 'top_n', 'R@1', 'R@5', 'R@10', 'MRR@10', 'nDCG@10', 'rerank p95 ms'],
        staged.map((p) => {
          const r = p.rerank!;
          const cell = (m: 'recallAt1' | 'recallAt5' | 'recallAt10' | 'mrrAt10' | 'ndcgAt10') =>
            `${fixed(r.before[m])} → ${fixed(r.after[m])} (${r.lift[m] >= 0 ? '+' : ''}${(r.lift[m] * 100).toFixed(1)})`;
          return [
            p.profile,
            r.provider,
            r.topN,
            cell('recallAt1'),
            cell('recallAt5'),
            cell('recallAt10'),
            cell('mrrAt10'),
            cell('ndcgAt10'),
            fixed(r.latency.p95Ms, 3),
          ];
        }),
      ),
    );
  }
  if (report.comparisons.length) {
    lines.push('', `agreement (exact, top ${report.comparisons[0]!.k}) and nDCG@10 per query, candidate vs control:`);
    lines.push(
      table(
        ['control', 'candidate', 'overlap@10', 'RBO', 'wins', 'losses', 'ties', 'mean ΔnDCG@10'],
        report.comparisons.map((c) => [
          c.control,
          c.candidate,
          fixed(c.meanOverlap),
          fixed(c.meanRbo),
          c.ndcgAt10.wins,
          c.ndcgAt10.losses,
          c.ndcgAt10.ties,
          (c.ndcgAt10.meanDelta >= 0 ? '+' : '') + fixed(c.ndcgAt10.meanDelta),
        ]),
      ),
    );
  }
  if (report.by) lines.push('', ...categoryTables(report));
  for (const w of d.warnings) lines.push('', `warning: ${w}`);
  if (runFiles.length) lines.push('', `TREC run files: ${runFiles.join(', ')}`);
  if (history) lines.push(`history: appended to ${history}`);
  return lines.join('\n');
}
