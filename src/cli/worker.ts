import type { Command } from 'commander';
import { CliContext } from './context.js';
import { positiveInt } from './options.js';
import { shutdownSignal } from './signals.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run backfill workers until stopped (SIGINT/SIGTERM): live changes from the queue first, then chunks. ' +
        'Start any number, on any number of machines sharing one PostgreSQL database. When a profile’s ' +
        'backfill is complete (every chunk done, coverage 100%), one of them builds its index (HNSW or IVFFlat, as configured).',
    )
    .option('-p, --profile <name...>', 'profiles to work for (default: every profile with capture on)')
    .option('-w, --workers <n>', 'workers in this process', positiveInt, 1)
    .option('--lease-seconds <n>', 'lease length; a killed worker’s work is taken over after it', positiveInt, 30)
    .option('--page-size <n>', 'rows per embed-and-write step', positiveInt, 1000)
    .option('--max-attempts <n>', 'attempts per row before it goes to the failures table', positiveInt, 5)
    .option('--drain', 'exit when no work is left instead of waiting for more')
    .action(
      async (
        opts: {
          profile?: string[];
          workers: number;
          leaseSeconds: number;
          pageSize: number;
          maxAttempts: number;
          drain?: boolean;
        },
        command: Command,
      ) => {
        const ctx = new CliContext(command);
        await ctx.withReembed(async (rb) => {
          const { signal, dispose } = shutdownSignal((s) => ctx.info(`${s}: stopping, giving back leases`));
          let last = 0;
          const indexFailures = new Map<string, string>();
          try {
            const stats = await rb.backfill.work({
              profiles: opts.profile,
              workers: opts.workers,
              drain: opts.drain,
              signal,
              leaseSeconds: opts.leaseSeconds,
              pageSize: opts.pageSize,
              maxAttempts: opts.maxAttempts,
              onTransientError: ctx.transientReporter('worker'),
              onStart: (s) => ctx.info(`worker: ${s.workers} worker(s) for ${s.profiles.join(', ')} on ${s.database}`),
              onIndex: (e) => {
                if (e.phase === 'building') {
                  ctx.info(`worker: the backfill of ${e.profile} is complete: building its index`);
                } else if (e.phase === 'built') {
                  indexFailures.delete(e.profile);
                  ctx.info(`worker: index ${e.index} of ${e.profile} built in ${e.seconds.toFixed(1)} s`);
                } else {
                  const message = e.error instanceof Error ? e.error.message : String(e.error);
                  indexFailures.set(e.profile, message);
                  ctx.info(
                    `worker: building the index of ${e.profile} failed: ${message}${opts.drain ? '' : '; trying again later'}`,
                  );
                }
              },
              onProgress: (s) => {
                if (performance.now() - last < 5000) return;
                last = performance.now();
                ctx.info(
                  `worker ${s.workerId}: ${s.rowsEmbedded} rows embedded, ${s.rowsDeleted} deleted, ${s.rowsDeferred} deferred`,
                );
              },
            });
            // Draining, the work is done but the store is not indexed: a check failed.
            if (opts.drain && indexFailures.size > 0) process.exitCode = 1;
            ctx.result(stats, () =>
              stats
                .map(
                  (s) =>
                    `worker ${s.workerId}: ${s.rowsEmbedded} rows embedded, ${s.rowsDeleted} deleted in ${s.seconds.toFixed(1)} s`,
                )
                .join('\n'),
            );
          } finally {
            dispose();
          }
        });
      },
    );
}
