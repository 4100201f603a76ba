import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../facade/shell.js';
import type { AlertReport } from '../reembed.js';
import { ConfigError } from '../errors.js';
import { alertReportText } from './alert-format.js';
import { CliContext } from './context.js';
import { shutdownSignal } from './signals.js';

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .summary('evaluate the alert rules of reembed.yaml and notify their webhooks, with or without a migration')
    .description(
      'Every --interval (default alerts.interval, 1m), evaluate the rules of `alerts:` in reembed.yaml: during a ' +
        "migration they measure its candidate (unless a rule names a profile), otherwise the environment's " +
        'active profile. A rule fires once its condition has held for its `for:`, and resolves when it no longer ' +
        'holds; no data never fires. Each transition is sent once to the webhooks of its severity (json or ' +
        'slack), whoever evaluates it (the controller evaluates the same rules every tick), repeated every ' +
        'alerts.repeat_interval while firing, and recorded in the database (`reembed migrate status`, ' +
        '`migrate history`). watch only tells: a `rollback: true` rule rolls back through the controller. ' +
        'SIGINT/SIGTERM stop it between evaluations. With --once: one evaluation, exit 1 when a rule is firing.',
    )
    .option('--interval <duration>', 'time between evaluations (default: alerts.interval of reembed.yaml)')
    .option('--once', 'one evaluation, then exit (1 when a rule is firing)')
    .action(async (opts: { interval?: string; once?: boolean }, command: Command) => {
      const ctx = new CliContext(command);
      let interval: number | undefined;
      if (opts.interval !== undefined) {
        try {
          interval = parseDuration(opts.interval);
        } catch (error) {
          throw new ConfigError(`--interval: ${(error as Error).message}`);
        }
        if (!(interval >= 10)) throw new ConfigError(`--interval must be at least 10ms, got ${opts.interval}`);
      }
      await ctx.withReembed(async (rb) => {
        const every = interval ?? rb.manifest.alerts.interval;
        if (rb.manifest.alerts.rules.length === 0)
          ctx.info('watch: reembed.yaml has no alert rules (alerts.rules); nothing to evaluate');
        const print = (r: AlertReport) =>
          process.stdout.write(ctx.json ? `${JSON.stringify(r)}\n` : `${alertReportText(r)}\n`);
        if (opts.once) {
          const report = await rb.alerts.evaluate({ evaluator: 'watch' });
          print(report);
          if (report.rules.some((r) => r.phase === 'firing')) process.exitCode = 1;
          return;
        }
        ctx.info(`watch: ${rb.manifest.alerts.rules.length} rules every ${formatDuration(every)}`);
        const { signal, dispose } = shutdownSignal((s) => ctx.info(`${s}: stopping after this evaluation`));
        try {
          while (!signal.aborted) {
            try {
              print(await rb.alerts.evaluate({ evaluator: 'watch' }));
            } catch (error) {
              if (error instanceof ConfigError) throw error;
              // The database away for a moment: say so and try again next interval.
              ctx.info(
                `watch: this evaluation failed, trying again in ${formatDuration(every)}: ${error instanceof Error ? error.message : String(error)}`,
              );
            }
            await sleep(every, signal);
          }
        } finally {
          dispose();
        }
      });
    });
}
