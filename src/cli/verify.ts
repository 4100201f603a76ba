import { InvalidArgumentError, type Command } from 'commander';
import { activeProfileName } from '../config/environment.js';
import { getProfile } from '../config/manifest.js';
import { resolveSource } from '../source/source.js';
import { verifyStore, type VerifyReport } from '../store/verify.js';
import { CliContext } from './context.js';
import { table } from './format.js';

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`not a positive number: ${value}`);
  return n;
}

function describeIndex(report: VerifyReport): string {
  const index = report.index;
  if (!('exists' in index)) return 'none (over 4,000 dims: search is exact)';
  if (!index.exists) return `${index.name} not built (search is exact until it is)`;
  return `${index.name} (${index.type}, ${index.valid ? 'valid' : 'INVALID'}, ${(index.sizeBytes / 1024 / 1024).toFixed(1)} MiB)`;
}

function human(report: VerifyReport): string {
  return [
    `profile ${report.profile} (fingerprint ${report.fingerprint}): store ${report.storeTable}, source ${report.sourceTable}`,
    `source rows ${report.sourceRows}, store rows ${report.storeRows}, current ${report.currentRows}, ` +
      `coverage ${(100 * report.coverage).toFixed(2)}%`,
    `index ${describeIndex(report)}`,
    table(
      ['check', 'status', 'count', 'examples', 'meaning'],
      report.checks.map((c) => [
        c.name,
        c.ok ? 'ok' : 'FAIL',
        c.count,
        c.examples.map((id) => JSON.stringify(id)).join(', ') || '-',
        c.description,
      ]),
    ),
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
        'an INVALID index. Each failing check lists up to 5 example ids. Exit 1 when any check fails.',
    )
    .option('-p, --profile <name>', 'profile to verify (default: the active profile of the environment)')
    .option(
      '--norm-tolerance <x>',
      'largest accepted |norm - 1| (default 1e-5, 1e-3 for halfvec stores)',
      positiveNumber,
    )
    .action(async (opts: { profile?: string; normTolerance?: number }, command: Command) => {
      const ctx = new CliContext(command);
      const manifest = ctx.manifest();
      // Verify never calls the provider, so a profile's missing API key is no reason to refuse.
      const profile = getProfile(manifest, opts.profile ?? activeProfileName(manifest).active);
      await ctx.withDatabase(async (db) => {
        const source = await resolveSource(db, manifest.source, profile.template ? [profile.template] : []);
        const report = await verifyStore(db, source, profile, { normTolerance: opts.normTolerance });
        ctx.result(report, () => human(report));
        if (!report.ok) process.exitCode = 1;
      });
    });
}
