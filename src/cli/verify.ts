import { truncatedPercent } from '../percent.js';
import { InvalidArgumentError, type Command } from 'commander';
import {
  DEFAULT_ANN_K,
  DEFAULT_ANN_QUERIES,
  DEFAULT_ANN_SEED,
  DEFAULT_ANN_THRESHOLD,
  parseDuration,
} from '../facade/shell.js';
import type { AnnOutcome, VerifyReport } from '../reembed.js';
import type { Progress } from './progress.js';
import { CliContext } from './context.js';
import { formatBytes, listsLine, table } from './format.js';
import { positiveInt } from './options.js';

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`not a positive number: ${value}`);
  return n;
}

function describeIndex(report: VerifyReport): string {
  const index = report.index;
  if (!('exists' in index)) return 'none (over 4,000 dims: search is exact)';
  if (!index.exists) return `${index.name} not built (search is exact until it is)`;
  const options = Object.entries(index.options).map(([k, v]) => `${k} ${v}`);
  return (
    `${index.name} (${index.type}${options.length ? ` ${options.join(', ')}` : ''}, ${index.valid ? 'valid' : 'INVALID'}, ${formatBytes(index.sizeBytes)})` +
    (index.rebuildPending ? ', not the configured index: the next backfill or worker rebuilds it' : '') +
    (index.lists ? `; ${listsLine(index.lists)}` : '')
  );
}

interface VerifyCommandOptions {
  profile?: string;
  maxQueueLag?: string;
  normTolerance?: number;
  ann?: boolean;
  annThreshold?: number;
  annQueries?: number;
  k?: number;
  efSearch?: number;
  probes?: number;
  seed?: number;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`not a number of at least 0: ${value}`);
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a whole number: ${value}`);
  return n;
}

function humanAnn(ann: AnnOutcome): string {
  if ('error' in ann) return `ann: FAILED (${ann.error.code}): ${ann.error.message}`;
  const lines = [
    `ann: overlap@${ann.k} ${ann.overlap.toFixed(4)} (min ${ann.minOverlap.toFixed(2)}) of ${ann.index} search with exact search, ` +
      `${ann.queries} stored vectors as queries (seed ${ann.seed}), ${ann.parameter} ${ann.value}, threshold ${ann.threshold}: ` +
      (ann.ok ? 'ok' : 'FAILED'),
  ];
  if (!ann.usedIndex)
    lines.push('ann: warning: the planner did not use the index even when forced; these searches were exact');
  else if (!ann.plannerUsesIndex)
    lines.push(
      `ann: note: at ${ann.storeRows} rows the planner serves this profile by an exact scan, not the index; the figures are the index's (forced)`,
    );
  if (ann.worst.length)
    lines.push(
      `ann: lowest overlap: ${ann.worst.map((w) => `${JSON.stringify(w.docId)} ${w.overlap.toFixed(2)}`).join(', ')}`,
    );
  return lines.join('\n');
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function human(report: VerifyReport): string {
  return [
    `profile ${report.profile} (fingerprint ${report.fingerprint}): store ${report.storeTable}, source ${report.sourceTable}`,
    `source rows ${report.sourceRows}, store rows ${report.storeRows}, current ${report.currentRows}, ` +
      `coverage ${truncatedPercent(report.coverage)}`,
    `index ${describeIndex(report)}`,
    table(
      ['check', 'status', 'count', 'examples', 'meaning'],
      report.checks.map((c) => [
        c.name,
        c.ok ? 'ok' : 'FAIL',
        c.inFlight ? `${c.count} (${c.inFlight} in flight)` : c.count,
        c.examples.map((id) => JSON.stringify(id)).join(', ') || '-',
        c.description,
      ]),
    ),
    ...(report.inFlight > 0
      ? [
          `in flight: ${report.inFlight} rows not current yet, each with a live change queued within ` +
            `${formatSeconds(report.maxQueueLagMs)} (a worker is on its way; not failures)`,
        ]
      : []),
    report.ok ? 'verify: ok' : `verify: FAILED (${report.checks.filter((c) => !c.ok).length} checks)`,
  ].join('\n');
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .summary("check a profile's store against the source: coverage, stale, missing, orphan and bad vectors")
    .description(
      "Check a profile's store against the source, every figure counted in SQL (never inferred from an " +
        'index): coverage, stale rows (content hash differs), missing rows, orphan store rows, wrong ' +
        'dimensions, NaN or zero vectors, norms off 1 (normalizing profiles), rows of a foreign fingerprint, ' +
        'an INVALID index. Each failing check lists up to 5 example ids. Exit 1 when any check fails.\n\n' +
        'A stale, missing or orphaned row with a live change queued within --max-queue-lag is counted "in flight" ' +
        '(a worker is on its way), reported beside the count, and is not a failure.\n\n' +
        'With --ann, stored vectors (sampled by seed, so no provider or API key is needed) are searched exactly and ' +
        "through the profile's index (HNSW or IVFFlat), which is forced (sequential scans and sorts off) so that a " +
        'small store, which the planner would scan exactly, still has its index measured; the report says whether ' +
        'serving uses it. A profile without a (valid, configured) index fails the ANN check.\n\n' +
        'An IVFFlat index also reports the sizes of its lists (min, p50, max, coefficient of variation), read by ' +
        'searching each list once with probes = 1 (about one pass over the store).',
    )
    .option('-p, --profile <name>', 'profile to verify (default: the active profile of the environment)')
    .option(
      '--norm-tolerance <x>',
      'largest accepted |norm - 1| (default 1e-5, 1e-3 for halfvec stores)',
      positiveNumber,
    )
    .option(
      '--max-queue-lag <duration>',
      'stale, missing or orphaned rows with a live change queued within this long are in flight, not failures ' +
        '(default: rollout.max_queue_lag, 30s; 0 fails them all)',
    )
    .option(
      '--ann',
      'also measure how well index search (HNSW or IVFFlat) agrees with exact search (overlap@k); exit 1 under the threshold',
    )
    .option(
      '--ann-threshold <x>',
      `least mean overlap@k that passes (default ${DEFAULT_ANN_THRESHOLD})`,
      nonNegativeNumber,
    )
    .option('--ann-queries <n>', `stored vectors sampled as queries (default ${DEFAULT_ANN_QUERIES})`, positiveInt)
    .option('-k, --k <n>', `results compared per query (default ${DEFAULT_ANN_K})`, positiveInt)
    .option(
      '--ef-search <n>',
      "hnsw.ef_search of an HNSW index's searches (default: the profile's, else 40)",
      positiveInt,
    )
    .option(
      '--probes <n>',
      "ivfflat.probes of an IVFFlat index's searches (default: the profile's, else 10)",
      positiveInt,
    )
    .option('--seed <n>', `seed of the query sample (default ${DEFAULT_ANN_SEED})`, wholeNumber)
    .action(async (opts: VerifyCommandOptions, command: Command) => {
      const ctx = new CliContext(command);
      const annOnly = (['annThreshold', 'annQueries', 'k', 'efSearch', 'probes', 'seed'] as const).filter(
        (o) => opts[o] !== undefined,
      );
      if (!opts.ann && annOnly.length)
        command.error(`reembed verify: --${annOnly[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --ann`, {
          exitCode: 2,
        });
      await ctx.withReembed(async (rb) => {
        let bar: Progress | null = null;
        const result = await rb.verify({
          profile: opts.profile,
          normTolerance: opts.normTolerance,
          maxQueueLagMs: opts.maxQueueLag === undefined ? undefined : parseDuration(opts.maxQueueLag),
          ann: opts.ann
            ? {
                threshold: opts.annThreshold,
                queries: opts.annQueries,
                k: opts.k,
                efSearch: opts.efSearch,
                probes: opts.probes,
                seed: opts.seed,
              }
            : false,
          onAnnStart: (profile) => {
            bar = ctx.progress(`ann ${profile}: exact searches`);
          },
          onAnnProgress: (done, total) => bar?.update(done, total),
        });
        (bar as Progress | null)?.finish();
        if (!('ann' in result)) {
          ctx.result(result, () => human(result));
          if (!result.ok) process.exitCode = 1;
          return;
        }
        const { ann } = result;
        // The table's verdict is the store checks'; the ANN line gives its own.
        ctx.result(result, () => `${human({ ...result, ok: result.checksOk })}\n${humanAnn(ann)}`);
        if (!result.ok) process.exitCode = 1;
      });
    });
}
