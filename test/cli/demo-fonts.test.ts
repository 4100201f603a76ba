import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** The CLI over the built dist/ (npm test builds first). */
describe('reembed demo --story fonts', () => {
  it('prints the facade’s report with --json and exits by whether the story held', async () => {
    const run = await runCli(['demo', '--story', 'fonts', '--json']);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      gates: Array<{ name: string; ok: boolean }>;
      evaluation: { candidate: { dims: number } };
    };
    // The latency and JIT gates hold the runbook's wall-clock budgets (1 s, 5 minutes), which the
    // story test scales for a slow machine; here the exit code must follow the report.
    expect(run.code).toBe(report.ok ? 0 : 1);
    const functional = report.gates.filter((g) => !['latency-p95', 'jit-worker'].includes(g.name));
    expect(functional.map((g) => [g.name, g.ok])).toEqual([
      ['coverage', true],
      ['dead-letters', true],
      ['verify', true],
      ['offline-ndcg@10', true],
    ]);
    expect(report.evaluation.candidate.dims).toBe(4096);
    expect(run.stderr).toContain('cutover gates: coverage pass');
  });

  it('refuses an unknown story with a usage error', async () => {
    const run = await runCli(['demo', '--story', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--story is one of migration, fonts');
  });
});
