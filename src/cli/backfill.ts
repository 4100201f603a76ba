import { truncatedPercent } from '../percent.js';
import type { Command } from 'commander';
import type { WorkerStats } from '../reembed.js';
import { ConfigError } from '../errors.js';
import { CliContext } from './context.js';
import { positiveInt } from './options.js';
import type { Progress } from './progress.js';
import { shutdownSignal } from './signals.js';

function requireProfile(opts: { profile?: string }): string {
  if (!opts.profile) throw new ConfigError('--profile is required (see `reembed profiles list`)');
  return opts.profile;
}

export function registerBackfill(program: Command): void {
  const backfill = program
    .command('backfill')
    .description('embed every source row for a profile: plan chunks, run workers, pause, resume, throttle');

  backfill
    .command('run', { isDefault: true })
    .description('turn capture on for the profile, plan chunks and run workers in this process until done')
    .requiredOption('-p, --profile <name>', 'the profile to backfill')
    .option('-w, --workers <n>', 'workers in this process', positiveInt, 1)
    .option('--dry-run', 'print the plan, row count, token and cost estimate and time at the rate limit; embed nothing')
    .option('--limit <n>', 'stop after embedding this many rows', positiveInt)
    .option('--filter <column=value>', 'backfill only rows where column = value (one category first)')
    .option('--chunk-size <n>', 'rows per chunk of the id space', positiveInt, 5000)
    .option('--page-size <n>', 'rows per embed-and-write step', positiveInt, 1000)
    .option('--lease-seconds <n>', 'lease length; a killed worker’s work is taken over after it', positiveInt, 30)
    .option('--max-attempts <n>', 'attempts per row before it goes to the failures table', positiveInt, 5)
    .option(
      '--no-index',
      'do not build the index at the end of this run (a `reembed worker` still builds it once the backfill is complete)',
    )
    .action(async (opts: RunOptions, command: Command) => runCommand(new CliContext(command), opts));

  for (const [name, paused, description] of [
    ['pause', true, 'pause the profile’s backfill: every worker stops writing within a second'],
    ['resume', false, 'resume a paused backfill'],
  ] as const) {
    backfill
      .command(name)
      .description(description)
      .requiredOption('-p, --profile <name>', 'the profile')
      .action(async (opts: { profile: string }, command: Command) => {
        const ctx = new CliContext(command);
        await ctx.withReembed(async (rb) => {
          const state = paused ? await rb.backfill.pause(opts.profile) : await rb.backfill.resume(opts.profile);
          ctx.result(
            state,
            () =>
              `${opts.profile}: ${state.paused ? 'paused' : 'running'}${state.rpm ? `, throttled to ${state.rpm} rpm` : ''}`,
          );
        });
      });
  }

  backfill
    .command('throttle')
    .description('limit the profile’s requests per minute across all workers, live (no restart)')
    .requiredOption('-p, --profile <name>', 'the profile')
    .option('--rpm <n>', 'requests per minute for all workers together', positiveInt)
    .option('--off', 'remove the throttle (back to the profile’s own rate_limit)')
    .action(async (opts: { profile: string; rpm?: number; off?: boolean }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        rb.profiles.get(opts.profile);
        if (!opts.off && opts.rpm === undefined) throw new ConfigError('give --rpm N or --off');
        const state = await rb.backfill.throttle(opts.profile, opts.off ? null : opts.rpm!);
        ctx.result(
          state,
          () =>
            `${opts.profile}: ${state.rpm ? `throttled to ${state.rpm} rpm` : 'no throttle'}${state.paused ? ' (paused)' : ''}`,
        );
      });
    });

  backfill
    .command('status')
    .description('coverage (counted), pause and throttle state of a profile')
    .requiredOption('-p, --profile <name>', 'the profile')
    .action(async (opts: { profile: string }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const report = await rb.backfill.status(opts.profile);
        const { profile, coverage, control } = report;
        ctx.result(
          report,
          () =>
            `${profile}: coverage ${truncatedPercent(coverage.ratio)} (${coverage.current}/${coverage.sourceRows} current, ${coverage.stale} stale, ${coverage.missing} missing)` +
            `, ${control.paused ? 'paused' : 'running'}${control.rpm ? `, throttled to ${control.rpm} rpm` : ''}`,
        );
      });
    });
}

interface RunOptions {
  profile?: string;
  workers: number;
  dryRun?: boolean;
  limit?: number;
  filter?: string;
  chunkSize: number;
  pageSize: number;
  leaseSeconds: number;
  maxAttempts: number;
  index: boolean;
}

/** `column=value` as the dry run shows it (the facade checks the column against the source). */
function describeFilter(text: string): string {
  const eq = text.indexOf('=');
  return ` where ${text.slice(0, eq).trim()} = ${text.slice(eq + 1)}`;
}

async function runCommand(ctx: CliContext, opts: RunOptions): Promise<void> {
  const name = requireProfile(opts);
  await ctx.withReembed(async (rb) => {
    const profile = rb.profiles.get(name);
    if (opts.dryRun) {
      const plan = await rb.backfill.plan(name, { filter: opts.filter, chunkSize: opts.chunkSize, limit: opts.limit });
      ctx.result(plan, () =>
        [
          `profile         ${profile.name} (${profile.provider}${profile.model ? ` ${profile.model}` : ''}, ${profile.dims} dims)`,
          `source rows     ${plan.rows}${opts.filter ? describeFilter(opts.filter) : ''}`,
          `to embed        ${plan.toEmbed} (missing or stale${plan.limit === null ? '' : `; the first ${plan.limit} by --limit`})`,
          `chunks          ${plan.chunks} of ${plan.chunkSize} rows`,
          `tokens (est.)   ${plan.estimatedTokens}`,
          `cost (est.)     ${plan.estimatedCost === null ? 'no price_per_million_tokens in the profile' : `$${plan.estimatedCost.toFixed(4)}`}`,
          `time (est.)     ${plan.estimatedSeconds === null ? 'no rate limit in the profile' : `${Math.ceil(plan.estimatedSeconds)} s at the rate limit`}`,
          `index           ${plan.index}`,
        ].join('\n'),
      );
      return;
    }
    let bar: Progress | null = null;
    let indexBar: Progress | null = null;
    let already = 0;
    let sourceRows = 0;
    const perWorker = new Map<string, WorkerStats>();
    const { signal, dispose } = shutdownSignal((s) => ctx.info(`\n${s}: stopping workers, giving back leases`));
    const started = performance.now();
    try {
      const report = await rb.backfill.run(name, {
        workers: opts.workers,
        limit: opts.limit,
        filter: opts.filter,
        chunkSize: opts.chunkSize,
        pageSize: opts.pageSize,
        leaseSeconds: opts.leaseSeconds,
        maxAttempts: opts.maxAttempts,
        // The index goes in after the bulk load (much faster than maintaining it row by row).
        index: opts.index,
        signal,
        onTransientError: ctx.transientReporter(`backfill ${profile.name}`),
        onStart: (s) => {
          ctx.info(
            `backfill ${profile.name}: ${s.toEmbed} of ${s.sourceRows} rows to embed in ${s.chunks} chunks with ${s.workers} worker(s)`,
          );
          already = s.sourceRows - s.toEmbed;
          sourceRows = s.sourceRows;
          bar = ctx.progress(`backfill ${profile.name}`);
        },
        onProgress: (s) => {
          perWorker.set(s.workerId, s);
          const done = [...perWorker.values()].reduce((a, w) => a + w.rowsEmbedded, 0);
          const tokens = [...perWorker.values()].reduce((a, w) => a + w.tokens, 0);
          const estimated = [...perWorker.values()].some((w) => w.estimatedTokens > 0);
          const seconds = (performance.now() - started) / 1000;
          const cost =
            profile.price_per_million_tokens !== undefined
              ? `, ${estimated ? '~' : ''}$${((tokens / 1e6) * profile.price_per_million_tokens).toFixed(4)}`
              : '';
          bar?.update(
            Math.min(sourceRows, already + done),
            sourceRows,
            `${(tokens / Math.max(seconds, 1e-3)).toFixed(0)} tokens/s${cost}`,
          );
        },
        onIndexStart: () => {
          bar?.finish();
          bar = null;
          indexBar = ctx.progress(`index ${profile.name}`);
        },
        onIndexProgress: (p) =>
          indexBar?.update(p.blocksTotal ? p.blocksDone : p.tuplesDone, p.blocksTotal || p.tuplesTotal || 1, p.phase),
      });
      (bar as Progress | null)?.finish();
      const index = report.index;
      if (index)
        (indexBar as Progress | null)?.finish(
          index.search === 'exact'
            ? 'no index: over 4,000 dims, search is exact'
            : `${index.index} ${index.created ? `built in ${index.seconds.toFixed(1)} s` : 'already there'}`,
        );
      const { embedded, deferred, tokens, estimatedTokens, cost, rateLimited, coverage, seconds } = report;
      ctx.result(
        report,
        () =>
          `${profile.name}: embedded ${embedded} rows (${tokens} tokens${estimatedTokens ? `, ${estimatedTokens} of them estimated` : ''}` +
          `${cost ? `, ${cost.estimated ? '~' : ''}$${cost.usd.toFixed(4)}` : ''}) in ${seconds.toFixed(1)} s, ${(embedded / Math.max(seconds, 1e-3)).toFixed(0)} rows/s; ` +
          `coverage ${truncatedPercent(coverage.ratio)} (${coverage.current}/${coverage.sourceRows})` +
          (deferred ? `; ${deferred} rows failed this time (see \`reembed failures list\`)` : '') +
          (rateLimited ? `; ${rateLimited} rate-limited responses` : '') +
          (report.stopped ? '; stopped before the end (rerun to resume)' : ''),
      );
      if (report.stopped) process.exitCode = 130;
    } finally {
      dispose();
    }
  });
}
