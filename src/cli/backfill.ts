import type { Command } from 'commander';
import { estimateBackfill, prepareBackfill, runBackfill } from '../backfill/backfill.js';
import { readControl, setControl } from '../backfill/control.js';
import { countCoverage } from '../backfill/coverage.js';
import { parseFilter } from '../backfill/plan.js';
import type { WorkerStats } from '../backfill/worker.js';
import { ConfigError } from '../errors.js';
import { buildIndex, type BuildIndexResult } from '../store/index.js';
import { CliContext } from './context.js';
import { positiveInt } from './options.js';
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
    .option('--chunk-size <n>', 'rows per chunk of the id space', positiveInt, 1000)
    .option('--page-size <n>', 'rows per embed-and-write step', positiveInt, 256)
    .option('--lease-seconds <n>', 'lease length; a killed worker’s work is taken over after it', positiveInt, 30)
    .option('--max-attempts <n>', 'attempts per row before it goes to the failures table', positiveInt, 5)
    .option(
      '--no-index',
      'do not build the HNSW index at the end of this run (a `reembed worker` still builds it once the backfill is complete)',
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
        ctx.profile(opts.profile);
        await ctx.withDatabase(async (db) => {
          const state = await setControl(db, opts.profile, { paused });
          ctx.result(
            { profile: opts.profile, ...state },
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
      ctx.profile(opts.profile);
      if (!opts.off && opts.rpm === undefined) throw new ConfigError('give --rpm N or --off');
      await ctx.withDatabase(async (db) => {
        const state = await setControl(db, opts.profile, { rpm: opts.off ? null : opts.rpm! });
        ctx.result(
          { profile: opts.profile, ...state },
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
      const profile = ctx.profile(opts.profile);
      await ctx.withDatabase(async (db) => {
        const source = await ctx.source(db);
        const coverage = await countCoverage(db, source, profile);
        const control = (await readControl(db, [profile.name])).get(profile.name)!;
        ctx.result(
          { profile: profile.name, coverage, control },
          () =>
            `${profile.name}: coverage ${(coverage.ratio * 100).toFixed(2)}% (${coverage.current}/${coverage.sourceRows} current, ${coverage.stale} stale, ${coverage.missing} missing)` +
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

async function runCommand(ctx: CliContext, opts: RunOptions): Promise<void> {
  const profile = ctx.profile(requireProfile(opts));
  await ctx.withDatabase(async (db, manifest) => {
    const source = await ctx.source(db);
    const filter = opts.filter ? parseFilter(opts.filter, source) : null;
    const estimate = await estimateBackfill(db, source, profile, filter);
    if (opts.dryRun) {
      ctx.result(
        { dryRun: true, ...estimate, chunkSize: opts.chunkSize, chunks: Math.ceil(estimate.rows / opts.chunkSize) },
        () =>
          [
            `profile         ${profile.name} (${profile.provider}${profile.model ? ` ${profile.model}` : ''}, ${profile.dims} dims)`,
            `source rows     ${estimate.rows}${filter ? ` where ${filter.column} = ${filter.value}` : ''}`,
            `to embed        ${estimate.toEmbed} (missing or stale)`,
            `chunks          ${Math.ceil(estimate.rows / opts.chunkSize)} of ${opts.chunkSize} rows`,
            `tokens (est.)   ${estimate.estimatedTokens}`,
            `cost (est.)     ${estimate.estimatedCost === null ? 'no price_per_million_tokens in the profile' : `$${estimate.estimatedCost.toFixed(4)}`}`,
            `time (est.)     ${estimate.estimatedSeconds === null ? 'no rate limit in the profile' : `${Math.ceil(estimate.estimatedSeconds)} s at the rate limit`}`,
            `index           ${estimate.index}`,
          ].join('\n'),
      );
      return;
    }
    const plan = await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: opts.chunkSize, filter });
    ctx.info(
      `backfill ${profile.name}: ${estimate.toEmbed} of ${plan.sourceRows} rows to embed in ${plan.chunks} chunks with ${opts.workers} worker(s)`,
    );
    const already = plan.sourceRows - estimate.toEmbed;
    const bar = ctx.progress(`backfill ${profile.name}`);
    const perWorker = new Map<string, WorkerStats>();
    const { signal, dispose } = shutdownSignal((s) => ctx.info(`\n${s}: stopping workers, giving back leases`));
    const started = performance.now();
    try {
      const run = await runBackfill(db, {
        source,
        profiles: [profile],
        workers: opts.workers,
        limit: opts.limit,
        pageSize: opts.pageSize,
        leaseSeconds: opts.leaseSeconds,
        maxAttempts: opts.maxAttempts,
        signal,
        onTransientError: ctx.transientReporter(`backfill ${profile.name}`),
        onProgress: (s) => {
          perWorker.set(s.workerId, s);
          const done = [...perWorker.values()].reduce((a, w) => a + w.rowsEmbedded, 0);
          const tokens = [...perWorker.values()].reduce((a, w) => a + w.tokens, 0);
          const seconds = (performance.now() - started) / 1000;
          const cost =
            profile.price_per_million_tokens !== undefined
              ? `, $${((tokens / 1e6) * profile.price_per_million_tokens).toFixed(4)}`
              : '';
          bar.update(
            Math.min(plan.sourceRows, already + done),
            plan.sourceRows,
            `${(tokens / Math.max(seconds, 1e-3)).toFixed(0)} tokens/s${cost}`,
          );
        },
      });
      bar.finish();
      // The index goes in after the bulk load (much faster than maintaining it row by row);
      // later live changes keep it up to date.
      let index: BuildIndexResult | null = null;
      if (opts.index && !signal.aborted && run.coverage.ratio === 1) {
        const indexBar = ctx.progress(`index ${profile.name}`);
        index = await buildIndex(db, profile, {
          onProgress: (p) =>
            indexBar.update(p.blocksTotal ? p.blocksDone : p.tuplesDone, p.blocksTotal || p.tuplesTotal || 1, p.phase),
        });
        indexBar.finish(
          index.search === 'exact'
            ? 'no index: over 4,000 dims, search is exact'
            : `${index.index} ${index.created ? `built in ${index.seconds.toFixed(1)} s` : 'already there'}`,
        );
      }
      const embedded = run.workers.reduce((a, w) => a + w.rowsEmbedded, 0);
      const deferred = run.workers.reduce((a, w) => a + w.rowsDeferred, 0);
      const tokens = run.workers.reduce((a, w) => a + w.tokens, 0);
      const rateLimited = run.workers.reduce((a, w) => a + w.rateLimited, 0);
      ctx.result(
        {
          profile: profile.name,
          embedded,
          deferred,
          tokens,
          rateLimited,
          seconds: run.seconds,
          coverage: run.coverage,
          index,
          stopped: signal.aborted,
        },
        () =>
          `${profile.name}: embedded ${embedded} rows (${tokens} tokens) in ${run.seconds.toFixed(1)} s, ${(embedded / Math.max(run.seconds, 1e-3)).toFixed(0)} rows/s; ` +
          `coverage ${(run.coverage.ratio * 100).toFixed(2)}% (${run.coverage.current}/${run.coverage.sourceRows})` +
          (deferred ? `; ${deferred} rows failed this time (see \`reembed failures list\`)` : '') +
          (rateLimited ? `; ${rateLimited} rate-limited responses` : '') +
          (signal.aborted ? '; stopped before the end (rerun to resume)' : ''),
      );
      if (signal.aborted) process.exitCode = 130;
    } finally {
      dispose();
    }
  });
}
