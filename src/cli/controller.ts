import type { Command } from 'commander';
import { endedEarly, formatDuration, ControllerStandby } from '../facade/shell.js';
import type { RolloutConfig, TickReport, GateResult } from '../reembed.js';
import { CliContext } from './context.js';
import { significant, table } from './format.js';
import { shutdownSignal } from './signals.js';
import { alertLine } from './alert-format.js';

/** The gates of a tick as a table: what was measured, against what, and the verdict. */
export function gatesTable(gates: readonly GateResult[]): string {
  return table(
    ['gate', 'metric', 'candidate', 'control', 'condition', 'verdict'],
    gates.map((g) => [
      g.gate,
      g.metric,
      significant(g.candidate),
      significant(g.control),
      g.condition,
      g.verdict.toUpperCase(),
    ]),
  );
}

function describeRollout(r: RolloutConfig): string {
  return (
    `steps ${r.steps.join('/')}%, every ${formatDuration(r.interval)}, at least ${formatDuration(r.stepMinDuration)} ` +
    `and ${r.stepMinRequests} candidate requests per step; ${r.gates.length} gates${r.defaultGates ? ' (the runbook defaults)' : ''}`
  );
}

function humanTick(report: TickReport): string {
  const t = report.tick;
  const where = t.phase === 'canary' ? `canary ${t.percent}%` : t.phase;
  const lines = [`${t.at} ${where}: ${t.decision.toUpperCase()} — ${t.reason}`];
  if (report.gates.length) lines.push(gatesTable(report.gates));
  for (const e of report.alerts?.events ?? []) lines.push(`alert: ${alertLine(e)}`);
  return lines.join('\n');
}

export function registerController(program: Command): void {
  program
    .command('controller')
    .summary('step the rollout automatically: measure gates, then promote, hold or roll back')
    .description(
      'Drive the active migration through the rollout steps of reembed.yaml (`rollout:`; default 5, 25, 50, ' +
        '100%): every interval, measure the gates that are due (coverage, verify, ANN agreement, offline ' +
        'evaluation history, online error rate and latency recorded by every router, shadow agreement), roll ' +
        'back when a gate reaches its failure or consecutive-failure limit, hold while a gate has not passed ' +
        'or the step is younger than its minimum time or traffic, promote otherwise (backfilling → shadow → ' +
        'each step → cutover). Every measurement, verdict and reason is stored and shown by `reembed migrate ' +
        'status` and `history`. Manual `reembed migrate` commands work at any time and win: the controller ' +
        're-reads the migration and continues from where a person left it. Stops at cutover (exit 0), or when ' +
        'the migration is rolled back or aborted (exit 1); with --watch-cutover it keeps watching the online and offline gates ' +
        'at 100% until finalize. SIGINT/SIGTERM stop it between ticks. One controller decides per source: ' +
        'it holds a lease in the database (3 intervals long, at least 30 s, renewed while it works); any others ' +
        'stand by, say who holds it, and take over when it stops renewing (on a PostgreSQL server; the embedded ' +
        'database admits one process). With --once, a standby exits 0 having done nothing.',
    )
    .option('--id <migration>', 'the migration (default: the active one of the source)')
    .option('--once', 'one evaluation, then exit (for cron or CI)')
    .option(
      '--watch-cutover',
      'after cutover, keep evaluating the online gates (absolute conditions), the offline gates (new eval runs) and the alert rules, and roll back on their limits, until the migration is finalized',
    )
    .option('--actor <name>', 'who the audit log names for its transitions', 'controller')
    .action(async (opts: { id?: string; once?: boolean; actor: string; watchCutover?: boolean }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const controller = await rb.controller({
          migrationId: opts.id,
          actor: opts.actor,
          watchCutover: opts.watchCutover,
        });
        ctx.info(`controller: ${describeRollout(controller.rollout)}`);
        const onTick = (report: TickReport) => {
          if (ctx.options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
          else process.stdout.write(`${humanTick(report)}\n`);
        };
        const standby = (s: ControllerStandby, then: string) => {
          if (ctx.options.json) process.stdout.write(`${JSON.stringify({ standby: s.details })}\n`);
          else ctx.info(`controller: ${s.message}; ${then}`);
        };
        let last: TickReport | null = null;
        if (opts.once) {
          try {
            last = await controller.tick();
            onTick(last);
          } catch (error) {
            if (!(error instanceof ControllerStandby)) throw error;
            standby(error, 'nothing done');
          }
        } else {
          const { signal, dispose } = shutdownSignal((s) => ctx.info(`${s}: stopping after this tick`));
          try {
            // Said once per holder, not every interval.
            let heldBy: string | null = null;
            last = await controller.run({
              signal,
              onTick: (report) => {
                if (heldBy) ctx.info(`controller: took over the rollout from ${heldBy}`);
                heldBy = null;
                onTick(report);
              },
              onStandby: (s) => {
                const holder = s.lease ? `host ${s.lease.host}, pid ${s.lease.pid}` : 'another controller';
                if (heldBy !== holder) standby(s, 'standing by, to take over when it stops renewing');
                heldBy = holder;
              },
              onError: (error) =>
                ctx.info(
                  `controller: this evaluation failed, trying again in ${formatDuration(controller.rollout.interval)}: ${error instanceof Error ? error.message : String(error)}`,
                ),
            });
          } finally {
            dispose();
          }
        }
        if (last && endedEarly(last.migration.phase)) process.exitCode = 1;
      });
    });
}
