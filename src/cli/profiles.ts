import type { Command } from 'commander';
import { parseDuration } from '../facade/shell.js';
import { CliContext } from './context.js';
import { printable, table } from './format.js';

export function registerProfiles(program: Command): void {
  const profiles = program.command('profiles').description('list profiles and check which one each environment uses');

  profiles
    .command('list')
    .description('list the manifest profiles with their fingerprints')
    .action(async (_opts: unknown, command: Command) => {
      const ctx = new CliContext(command);
      const rb = await ctx.open();
      const list = rb.profiles.list();
      ctx.result(list, () =>
        table(
          ['profile', 'provider', 'model', 'dims', 'metric', 'normalize', 'fingerprint'],
          list.map((p) => [p.name, p.provider, p.model ?? null, p.dims, p.metric, p.normalize, p.fingerprint]),
        ),
      );
    });

  profiles
    .command('check')
    .description(
      'show the resolved profile matrix (environment, baseline, override, active, swappable, experiment) under the ' +
        'current EMBEDDINGS_PROFILE / EMBEDDING_PROFILE_SWAPPABLE / EMBEDDING_PROFILE_EXPERIMENT; exit 2 when the ' +
        'current environment (or --env) would refuse to start',
    )
    .option('--env <name>', 'check this environment instead of the current one')
    .option(
      '--probe',
      'also embed one short text with every profile (or --profile ones), once, no retries: a provider matrix ' +
        'of reachable, dimensions, latency and error; exit 1 when any fails',
    )
    .option('-p, --profile <name...>', 'with --probe: only these profiles')
    .option('--timeout <duration>', 'with --probe: the longest a provider may take', '10s')
    .action(async (opts: { env?: string; probe?: boolean; profile?: string[]; timeout: string }, command: Command) => {
      const ctx = new CliContext(command);
      const rb = await ctx.open();
      const checked = rb.profiles.check(opts.env);
      const probe = opts.probe
        ? await rb.profiles.probe({ profiles: opts.profile, timeoutMs: parseDuration(opts.timeout) })
        : null;
      const report = probe ? { ...checked, probe } : checked;
      const rows = report.matrix;
      ctx.result(report, () =>
        [
          table(
            ['', 'environment', 'baseline', 'override', 'active', 'swappable', 'experiment', 'status'],
            rows.map((r) => [
              r.current ? '*' : '',
              r.environment,
              r.baseline,
              r.override,
              r.active,
              r.swappable,
              r.experiment,
              r.problems.length ? 'VIOLATION' : r.allowedBy ? `ok (${r.allowedBy})` : 'ok',
            ]),
          ),
          ...rows
            .filter((r) => r.current)
            .map((r) => `embedding_strict_mode=${r.strict} · embedding_namespace_mode=${r.namespace}`),
          ...rows.flatMap((r) => r.problems.map((p) => `${r.current ? 'error' : 'note'} [${r.environment}]: ${p}`)),
          ...(probe
            ? [
                '',
                table(
                  ['profile', 'provider', 'model', 'reachable', 'dims', 'latency ms', 'error'],
                  probe.map((p) => [
                    p.profile,
                    p.provider,
                    p.model,
                    p.ok ? 'yes' : p.dims === null ? 'NO' : 'yes (WRONG DIMS)',
                    p.dims === null
                      ? `- (expects ${p.expectedDims})`
                      : `${p.dims}${p.dims === p.expectedDims ? '' : ` (expects ${p.expectedDims})`}`,
                    p.latencyMs === null ? '-' : p.latencyMs.toFixed(0),
                    p.error ? `${p.error.code}: ${printable(p.error.message)}` : '',
                  ]),
                ),
              ]
            : []),
        ].join('\n'),
      );
      if (!report.ok) process.exitCode = 2;
      else if (probe?.some((p) => !p.ok)) process.exitCode = 1;
    });

  profiles
    .command('release <profile>')
    .description(
      'EMBEDDING_NAMESPACE_MODE=isolated: give up the environment claim on a profile’s store, so that another ' +
        'environment may serve it (the next isolated process to serve it claims it again)',
    )
    .action(async (name: string, _opts: unknown, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const released = await rb.profiles.release(name);
        ctx.result(released, () =>
          released.environment === null
            ? `profile ${name} had no claim`
            : `released profile ${name} from environment ${released.environment}`,
        );
      });
    });
}
