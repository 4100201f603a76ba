import type { Command } from 'commander';
import { CliContext } from './context.js';
import { table } from './format.js';

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
    .action(async (opts: { env?: string }, command: Command) => {
      const ctx = new CliContext(command);
      const rb = await ctx.open();
      const report = rb.profiles.check(opts.env);
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
          ...rows.flatMap((r) => r.problems.map((p) => `${r.current ? 'error' : 'note'} [${r.environment}]: ${p}`)),
        ].join('\n'),
      );
      if (!report.ok) process.exitCode = 2;
    });
}
