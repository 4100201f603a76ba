import { truncatedPercent } from '../percent.js';
import { hostname, userInfo } from 'node:os';
import { servingPercent, parseDuration } from '../facade/shell.js';
import type { Reembed, MigrationState } from '../reembed.js';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { CliContext } from './context.js';
import { wholeNumber } from './options.js';
import { table } from './format.js';
import { gatesTable } from './controller.js';
import { alertLine } from './alert-format.js';

interface Common {
  id?: string;
  actor?: string;
  expectVersion?: number;
}

function defaultActor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `pid ${process.pid}@${hostname()}`;
  }
}

function describe(m: MigrationState): string {
  const segments = m.targeting.segments.map((s) => s.name);
  return (
    `migration ${m.id}: ${m.control} → ${m.candidate}, phase ${m.phase}, candidate serves ${servingPercent(m.phase, m.percent)}%` +
    (segments.length ? ` and segment${segments.length === 1 ? '' : 's'} ${segments.join(', ')}` : '') +
    (m.targeting.deny && m.phase === 'canary' ? ' (deny-list applies)' : '') +
    `, shadow sample ${m.shadowSample}, version ${m.version}`
  );
}

async function withFacade<T>(
  command: Command,
  opts: Common,
  fn: (rb: Reembed, cli: CliContext) => Promise<T>,
): Promise<T> {
  const cli = new CliContext(command);
  return cli.withReembed((rb) => fn(rb, cli), { actor: opts.actor ?? defaultActor() });
}

/** The migration to act on, checked against --expect-version (a script's optimistic lock). */
function target(opts: Common): { id?: string; expectVersion?: number } {
  return { id: opts.id, expectVersion: opts.expectVersion };
}

/** --force, --reason and --max-queue-lag: the options of a step that needs a ready candidate. */
function readinessOptions(command: Command): Command {
  return command
    .option('--force', 'skip the readiness check (backfill, queue lag, coverage, verify)')
    .option('--reason <text>', 'why (required with --force)')
    .option(
      '--max-queue-lag <duration>',
      'rows changed within this long count as in flight, not missing (default: rollout.max_queue_lag, 30s)',
    );
}

function promotionOptions(opts: Record<string, unknown>): { force: boolean; reason?: string; maxQueueLagMs?: number } {
  return {
    force: opts.force === true,
    reason: typeof opts.reason === 'string' ? opts.reason : undefined,
    maxQueueLagMs: typeof opts.maxQueueLag === 'string' ? parseDuration(opts.maxQueueLag) : undefined,
  };
}

function withCommon(command: Command): Command {
  return command
    .option('--id <migration>', 'the migration (default: the active one of the source)')
    .option('--actor <name>', 'who acts, for the audit log (default: user@host)')
    .option('--expect-version <n>', 'act only if the migration is still at this version', wholeNumber);
}

export function registerMigrate(program: Command): void {
  const migrate = program
    .command('migrate')
    .description(
      'move reads from the control profile to a candidate: plan, start, shadow, ramp, cutover, finalize, cleanup, rollback',
    );

  withCommon(migrate.command('plan'))
    .description(
      'validate the move to --to, create its store, and print rows, tokens, cost, time at its rate limit and index type',
    )
    .requiredOption('--to <profile>', 'the candidate profile')
    .option('--from <profile>', 'the control profile (default: the active profile of the environment)')
    .action(async (opts: Common & { to: string; from?: string }, command: Command) =>
      withFacade(command, opts, async (rb, cli) => {
        if (!opts.from) cli.info(rb.profiles.active().banner);
        const { migration, estimate } = await rb.migration.plan(opts.to, opts.from);
        cli.result({ migration, estimate }, () =>
          [
            describe(migration),
            `to embed        ${estimate.toEmbed} of ${estimate.rows} rows with ${opts.to}`,
            `tokens (est.)   ${estimate.estimatedTokens}`,
            `cost (est.)     ${estimate.estimatedCost === null ? 'no price_per_million_tokens in the profile' : `$${estimate.estimatedCost.toFixed(4)}`}`,
            `time (est.)     ${estimate.estimatedSeconds === null ? 'no rate limit in the profile' : `${Math.ceil(estimate.estimatedSeconds)} s at the rate limit`}`,
            `index           ${estimate.index}`,
            'next: `reembed migrate start`',
          ].join('\n'),
        );
      }),
    );

  const simple: Array<
    [
      string,
      string,
      (rb: Reembed, opts: Common & Record<string, unknown>) => Promise<MigrationState>,
      (c: Command) => Command,
    ]
  > = [
    [
      'start',
      'turn capture on for both profiles (dual-write) and plan the candidate’s backfill; run `reembed worker` to do it',
      (rb, o) => rb.migration.start(target(o)),
      (c) => c,
    ],
    [
      'shadow',
      'compare the candidate’s results with the control’s on a sample of searches, without serving them',
      (rb, o) => rb.migration.shadow(Number(o.sample), target(o)),
      (c) => c.requiredOption('--sample <rate>', 'share of searches shadowed, 0..1', (v) => Number(v)),
    ],
    [
      'cutover',
      'serve every search from the candidate; the control is still written for a safety period',
      (rb, o) => rb.migration.cutover(promotionOptions(o), target(o)),
      (c) => readinessOptions(c),
    ],
    ['finalize', 'stop writing the control', (rb, o) => rb.migration.finalize(target(o)), (c) => c],
    [
      'cleanup',
      'drop the control’s store once the retention period since finalize has passed',
      (rb, o) => rb.migration.cleanup(parseDuration(String(o.olderThan)), target(o)),
      (c) => c.option('--older-than <duration>', 'retention since finalize, e.g. 7d, 12h, 30m', '7d'),
    ],
    [
      'rollback',
      'serve every search from the control again, at once, from any phase (after finalize: with --force)',
      (rb, o) => rb.migration.rollback(String(o.reason ?? ''), { ...target(o), force: o.force === true }),
      (c) =>
        c
          .requiredOption('--reason <text>', 'why, for the audit log')
          .option(
            '--force',
            'roll back after finalize or cleanup: the control, not written since finalize, serves stale or missing documents until its catch-up backfill (run by `reembed worker`) ends',
          ),
    ],
    [
      'abort',
      'give up a migration whose candidate never served',
      (rb, o) => rb.migration.abort(String(o.reason ?? ''), target(o)),
      (c) => c.requiredOption('--reason <text>', 'why, for the audit log'),
    ],
  ];
  for (const [name, description, run, options] of simple) {
    options(withCommon(migrate.command(name)))
      .description(description)
      .action(async (opts: Common & Record<string, unknown>, command: Command) =>
        withFacade(command, opts, async (rb, cli) => {
          const next = await run(rb, opts);
          cli.result(next, () => describe(next));
        }),
      );
  }

  readinessOptions(withCommon(migrate.command('ramp')))
    .description(
      'serve the candidate to this share of subjects (only upward; down is a rollback), and with --segment to a named ' +
        'group of rollout.segments first (subjects by value or prefix; the percentage may stay at 0); rollout.deny never ' +
        'gets it in canary. Needs a ready candidate: backfill done, changes in flight within --max-queue-lag, coverage at ' +
        'least rollout.min_coverage, a clean verify',
    )
    .argument('[percent]', 'whole percentage, 1..100 (optional with --segment)')
    .option('--segment <name>', 'also serve the candidate to this segment of rollout.segments')
    .action(async (percent: string | undefined, opts: Common & Record<string, unknown>, command: Command) =>
      withFacade(command, opts, async (rb, cli) => {
        const segment = typeof opts.segment === 'string' ? opts.segment : undefined;
        if (percent === undefined && segment === undefined)
          throw new ConfigError('ramp needs a percentage, --segment NAME, or both');
        const value = percent === undefined ? null : Number(percent.replace(/%$/, ''));
        if (value !== null && !Number.isInteger(value))
          throw new ConfigError(`ramp takes a whole percentage, got ${JSON.stringify(percent)}`);
        const next = await rb.migration.ramp(value, { ...promotionOptions(opts), segment }, target(opts));
        cli.result(next, () => describe(next));
      }),
    );

  withCommon(migrate.command('status'))
    .description('the migration’s phase, share served by the candidate, and the coverage of both stores')
    .action(async (opts: Common, command: Command) =>
      withFacade(command, opts, async (rb, cli) => {
        const report = await rb.migration.statusReport(opts.id);
        if (report.migration === null) {
          cli.result(
            report,
            () =>
              `no migration for ${rb.source.schemaName}.${rb.source.tableName} yet: \`reembed migrate plan --to PROFILE\``,
          );
          return;
        }
        const { migration: m, coverage, controller } = report;
        const lastTick = controller?.lastTick ?? null;
        const gates = controller?.gates ?? [];
        const lease = controller?.lease ?? null;
        cli.result(report, () =>
          [
            describe(m),
            ...Object.entries(coverage).map(
              ([n, c]) => `coverage ${n}: ${c === null ? 'no store' : truncatedPercent(c)}`,
            ),
            ...(lastTick
              ? [
                  `controller, ${lastTick.at}: ${lastTick.decision.toUpperCase()} — ${lastTick.reason}`,
                  'latest measurement of each gate:',
                  gatesTable(gates),
                ]
              : ['controller: no evaluation yet (`reembed controller` steps the rollout by its gates)']),
            lease
              ? `controller lease: host ${lease.host}, pid ${lease.pid} (${lease.holder}), since ${lease.acquiredAt}, ` +
                (lease.expired
                  ? `expired ${lease.expiresAt}: its holder stopped renewing; a standing-by controller takes over at its next tick`
                  : `renewed ${lease.renewedAt}, until ${lease.expiresAt}`)
              : 'controller lease: none held',
            report.alerts.firing.length
              ? `alerts firing: ${report.alerts.firing.map((a) => `${a.rule} (since ${a.firedAt})`).join(', ')}`
              : 'alerts firing: none',
            ...report.alerts.recent.map((e) => `alert ${e.at}: ${alertLine(e)}`),
          ].join('\n'),
        );
      }),
    );

  withCommon(migrate.command('bucket'))
    .description("a subject's canary bucket (1..100) in the migration, and which profile serves it now")
    .requiredOption('-s, --subject <id>', 'the user, session or tenant')
    .action(async (opts: Common & { subject: string }, command: Command) =>
      withFacade(command, opts, async (rb, cli) => {
        const report = await rb.migration.bucket(opts.subject, opts.id);
        cli.result(report, () =>
          report.migration
            ? `subject ${JSON.stringify(report.subject)}: bucket ${report.bucket ?? 'none (an empty subject goes to the control)'} in migration ${report.migration.id} (${report.migration.phase} ${report.migration.percent}%): served by ${report.servedBy}${report.candidateServes ? ' (the candidate)' : ''}${report.segment ? `; in segment ${report.segment}` : ''}${report.denied ? '; on the deny-list' : ''}`
            : `no migration: subject ${JSON.stringify(report.subject)} is served by ${report.servedBy}`,
        );
      }),
    );

  withCommon(migrate.command('history'))
    .description(
      'the audit log: every change with time, actor, from, to, reason and details, and every controller decision (--measurements: every gate measurement too)',
    )
    .option('--measurements', 'list every gate measurement the controller stored')
    .action(async (opts: Common & { measurements?: boolean }, command: Command) =>
      withFacade(command, opts, async (rb, cli) => {
        const report = await rb.migration.historyReport(opts.id, { measurements: opts.measurements });
        if (report.migration === null) {
          cli.result(report, () => 'no migration yet');
          return;
        }
        const { migration: m, events, ticks, measurements } = report;
        // One timeline: transitions and the controller's decisions (its promotions appear as both).
        const rows = [
          ...events.map((e) => ({
            at: e.at,
            row: [
              e.at,
              e.actor,
              e.details?.forced === true ? `${e.action} (forced)` : e.action,
              e.fromPhase ? `${e.fromPhase} ${e.fromPercent}%` : null,
              `${e.toPhase} ${e.toPercent}%`,
              e.reason,
            ],
          })),
          ...ticks.map((t) => ({
            at: t.at,
            row: [t.at, 'controller', `tick: ${t.decision}`, `${t.phase} ${t.percent}%`, null, t.reason],
          })),
          ...report.alerts.map((e) => ({
            at: e.at,
            row: [e.at, String(e.details.evaluator ?? 'alerts'), `alert: ${e.transition}`, null, null, alertLine(e)],
          })),
        ].sort((a, b) => a.at.localeCompare(b.at));
        cli.result(report, () =>
          [
            describe(m),
            table(
              ['at', 'actor', 'action', 'from', 'to', 'reason'],
              rows.map((r) => r.row),
            ),
            ...(measurements
              ? [
                  table(
                    ['at', 'gate', 'metric', 'candidate', 'control', 'condition', 'verdict', 'reason'],
                    measurements.map((x) => [
                      x.at,
                      x.gate,
                      x.metric,
                      x.candidate === null ? '-' : Number(x.candidate.toPrecision(4)),
                      x.control === null ? '-' : Number(x.control.toPrecision(4)),
                      x.condition,
                      x.verdict.toUpperCase(),
                      x.reason,
                    ]),
                  ),
                ]
              : []),
          ].join('\n'),
        );
      }),
    );
}
