import { InvalidArgumentError, type Command } from 'commander';
import {
  DEFAULT_ANN_K,
  DEFAULT_ANN_SEED,
  DEFAULT_MAX_RECALL_LOSS,
  DEFAULT_TUNE_QUERIES,
  DEFAULT_TUNE_PROBES,
  DEFAULT_TUNE_VALUES,
} from '../facade/shell.js';
import type { ProfileSettingEdit, TuneReport } from '../reembed.js';
import { CliContext } from './context.js';
import { table } from './format.js';
import { positiveInt } from './options.js';
import type { Progress } from './progress.js';

interface TuneCommandOptions {
  profile?: string;
  values?: number[];
  k?: number;
  queries?: number;
  seed?: number;
  maxRecallLoss?: number;
  p95TargetMs?: number;
  dryRun?: boolean;
}

function valueList(value: string): number[] {
  const items = value.split(',').map((s) => s.trim());
  const numbers = items.map(Number);
  if (items.some((s) => s === '') || numbers.some((n) => !Number.isInteger(n) || n < 1 || n > 32768))
    throw new InvalidArgumentError(`not a comma-separated list of whole numbers from 1 to 32768: ${value}`);
  return numbers;
}

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`not a number from 0 to 1: ${value}`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`not a positive number: ${value}`);
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a whole number: ${value}`);
  return n;
}

function human(report: TuneReport, written: ProfileSettingEdit | null, dryRun: boolean): string {
  const target = report.p95TargetMs === null ? 'no p95 target' : `p95 <= ${report.p95TargetMs} ms`;
  const lines = [
    `tune ${report.profile}: ${report.index} over ${report.storeRows} rows, ${report.queries} stored vectors as queries ` +
      `(seed ${report.seed}), recall@${report.k} against exact search; criteria: recall >= ${(1 - report.maxRecallLoss).toFixed(4)}, ${target}`,
    table(
      [report.parameter, `recall@${report.k}`, 'min', 'p50 ms', 'p95 ms', 'serving plan', 'verdict'],
      report.rows
        .map((r) => [
          r.value,
          r.recall.toFixed(4),
          r.minRecall.toFixed(2),
          r.p50Ms.toFixed(3),
          r.p95Ms.toFixed(3),
          r.plannerUsesIndex ? 'index' : 'exact scan',
          r.value === report.choice
            ? 'CHOSEN'
            : r.qualifies
              ? 'ok'
              : [r.recallOk ? null : 'recall too low', r.latencyOk ? null : 'p95 too high'].filter(Boolean).join(', '),
        ])
        .concat([
          ['exact', '1.0000', '1.00', report.exact.p50Ms.toFixed(3), report.exact.p95Ms.toFixed(3), '(reference)', '-'],
        ]),
    ),
  ];
  if (report.rows.some((r) => !r.usedIndex))
    lines.push('warning: some searches did not go through the index even when forced; their figures are exact scans');
  if (report.rows.some((r) => !r.plannerUsesIndex))
    lines.push(
      `note: "exact scan": at ${report.storeRows} rows the planner serves this profile without the index at that ${report.parameter}; ` +
        'the recall and latency shown are the index’s (forced), which serving will use once the store grows',
    );
  if (report.choice === null) {
    lines.push(`no ${report.parameter} qualifies: ${report.reason}. Nothing written.`);
    return lines.join('\n');
  }
  lines.push(`choice: ${report.reason}`);
  if (dryRun) lines.push('--dry-run: nothing written');
  else if (written && !written.changed) lines.push(`${written.file} already has ${written.key}: ${report.choice}`);
  else if (written)
    lines.push(
      `wrote ${written.key}: ${report.choice} for profile ${report.profile} to ${written.file}` +
        ` (was ${written.previous ?? `unset: default ${report.parameter === 'probes' ? 10 : 40}`}); running processes use it after a restart`,
    );
  return lines.join('\n');
}

export function registerTune(program: Command): void {
  program
    .command('tune')
    .summary(
      'sweep the index’s search parameter (HNSW ef_search, IVFFlat probes): recall vs exact and p95 per value; write the smallest good one',
    )
    .description(
      'Sample stored vectors as queries (no provider or API key needed), search each exactly and through the ' +
        'profile’s index at every value of its search parameter (hnsw.ef_search for an HNSW index, ivfflat.probes ' +
        'for an IVFFlat one), and report recall@k against exact search and p50/p95 latency of the index search. ' +
        'Choose the smallest value with recall loss at most --max-recall-loss (default 0.005: ΔR@k >= -0.5 points ' +
        'against exact) and p95 within --p95-target-ms (if given), and write it to the profile in the manifest file ' +
        'that defines it (`ef_search:`, or `index.ef_search:` / `index.probes:` when the profile has an `index:` ' +
        'block; comments and layout kept). Exit 1, writing nothing, when no value qualifies.\n\n' +
        'Index searches are forced through the index (sequential scans and sorts off), so a store small enough for ' +
        'the planner to scan exactly is still measured on its index; the table says which plan serving gets.',
    )
    .option('-p, --profile <name>', 'profile to tune (default: the active profile of the environment)')
    .option(
      '--values <list>',
      `values to measure, comma-separated: ef_search, each at least k (default ${DEFAULT_TUNE_VALUES.join(',')}), or probes (default ${DEFAULT_TUNE_PROBES.join(',')})`,
      valueList,
    )
    .option('-k, --k <n>', `results per query (default ${DEFAULT_ANN_K})`, positiveInt)
    .option('--queries <n>', `stored vectors sampled as queries (default ${DEFAULT_TUNE_QUERIES})`, positiveInt)
    .option('--seed <n>', `seed of the query sample (default ${DEFAULT_ANN_SEED})`, wholeNumber)
    .option(
      '--max-recall-loss <x>',
      `largest accepted 1 - recall@k (default ${DEFAULT_MAX_RECALL_LOSS}, i.e. 0.5 points)`,
      fraction,
    )
    .option('--p95-target-ms <ms>', 'largest accepted p95 of the index search (default: none)', positiveNumber)
    .option('--dry-run', 'measure and choose, but write nothing')
    .action(async (opts: TuneCommandOptions, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        let bar: Progress | null = null;
        const result = await rb.tune({
          profile: opts.profile,
          dryRun: opts.dryRun,
          values: opts.values,
          k: opts.k,
          queries: opts.queries,
          seed: opts.seed,
          maxRecallLoss: opts.maxRecallLoss,
          p95TargetMs: opts.p95TargetMs,
          onProgress: (event) => {
            const name = opts.profile ?? rb.activeProfile;
            if (event.phase === 'exact') {
              bar ??= ctx.progress(`tune ${name}: exact searches`);
              bar.update(event.done, event.total);
              if (event.done === event.total) bar.finish();
            } else if (event.phase === 'warmup') {
              ctx.info(`tune ${name}: warm-up pass at ${event.parameter} ${event.value} (untimed)`);
            } else {
              const r = event.row;
              ctx.info(
                `tune ${name}: ${event.parameter} ${r.value}: recall@${opts.k ?? DEFAULT_ANN_K} ${r.recall.toFixed(4)}, ` +
                  `p50 ${r.p50Ms.toFixed(3)} ms, p95 ${r.p95Ms.toFixed(3)} ms (${event.done}/${event.total})`,
              );
            }
          },
        });
        ctx.result(result, () => human(result, result.written, result.dryRun));
        if (result.choice === null) process.exitCode = 1;
      });
    });
}
