import type { Command } from 'commander';
import { environmentName, resolveProfile, type ProfileResolution } from '../config/environment.js';
import { checkProfileEnvironment } from '../config/manifest.js';
import { CliContext } from './context.js';
import { table } from './format.js';

interface MatrixRow extends ProfileResolution {
  current: boolean;
  problems: string[];
}

export function registerProfiles(program: Command): void {
  const profiles = program.command('profiles').description('list profiles and check which one each environment uses');

  profiles
    .command('list')
    .description('list the manifest profiles with their fingerprints')
    .action((_opts: unknown, command: Command) => {
      const ctx = new CliContext(command);
      const list = [...ctx.manifest().profiles.values()];
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
    .action((opts: { env?: string }, command: Command) => {
      const ctx = new CliContext(command);
      const manifest = ctx.manifest();
      const selected = opts.env ?? environmentName();
      const names = [...new Set([...manifest.environments.keys(), selected])];
      const rows: MatrixRow[] = names.map((environment) => {
        const r = resolveProfile(manifest, process.env, environment);
        const active = r.active ? manifest.profiles.get(r.active) : undefined;
        const problems = [...(r.violation ? [r.violation] : []), ...(active ? checkProfileEnvironment(active) : [])];
        return { ...r, current: environment === selected, problems };
      });
      const failing = rows.filter((r) => r.current && r.problems.length > 0);
      ctx.result({ environment: selected, ok: failing.length === 0, matrix: rows }, () =>
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
      if (failing.length) process.exitCode = 2;
    });
}
