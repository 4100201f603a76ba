import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** The CLI over the built dist/ (npm test builds first). */
describe('reembed demo --story fonts', () => {
  it('prints the facade’s report with --json and exits 0 when the story holds', async () => {
    const run = await runCli(['demo', '--story', 'fonts', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      gates: Array<{ name: string; ok: boolean }>;
      evaluation: { candidate: { dims: number } };
    };
    expect(report.ok).toBe(true);
    expect(report.gates.every((g) => g.ok)).toBe(true);
    expect(report.evaluation.candidate.dims).toBe(4096);
    expect(run.stderr).toContain('cutover gates: coverage pass');
  });

  it('refuses an unknown story with a usage error', async () => {
    const run = await runCli(['demo', '--story', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--story is one of migration, fonts');
  });
});
