import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest } from '../../src/config/manifest.js';
import { appendEvaluation, webhookReceiver } from '../gates/alert-helpers.js';
import { BIN, runCli } from '../helpers/cli.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';
import { scaled } from '../helpers/slowdown.js';

describe.each(BACKENDS)('reembed watch on %s', (backend) => {
  let server: Awaited<ReturnType<typeof createServerDatabase>> | null;
  let target: string;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  let dir: string;
  let yaml: string;
  beforeAll(async () => {
    receiver = await webhookReceiver();
    dir = mkdtempSync(join(tmpdir(), 'reembed-cli-watch-'));
    yaml = `profiles:
  old: { provider: hash, dims: 32 }
  new: { provider: hash, dims: 64 }
environments:
  development: { profile: old }
rollout:
  eval_history: history.jsonl
alerts:
  webhooks:
    - { url: "${receiver.url('/hook')}", format: json }
  rules:
    - { name: recall-low, metric: offline.recall@5, op: "<", threshold: 0.5, severity: critical }
`;
    writeFileSync(join(dir, 'reembed.yaml'), yaml);
    server = backend === 'postgres' ? await createServerDatabase() : null;
    target = server?.url ?? join(dir, '.reembed');
  });
  afterAll(async () => {
    await receiver.close();
    await server?.drop();
  });
  const cli = (args: string[]) => runCli(['--db', target, ...args], { cwd: dir });

  const profile = (name: string) => buildManifest(parse(yaml), null).profiles.get(name)!;

  it('--once --json: evaluates the rules against the active profile, notifies once across processes, exits 1 while firing', async () => {
    // No evaluation yet: no data, nothing fires.
    const quiet = await cli(['watch', '--once', '--json']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(JSON.parse(quiet.stdout)).toMatchObject({
      evaluator: 'watch',
      migration: null,
      rules: [{ rule: 'recall-low', profile: 'old', breach: null, phase: 'inactive' }],
      events: [],
    });

    appendEvaluation(join(dir, 'history.jsonl'), new Date(), [[profile('old'), 0.3]]);
    const fired = await cli(['watch', '--once', '--json']);
    expect(fired.code, fired.stderr).toBe(1);
    const report = JSON.parse(fired.stdout) as {
      rules: Array<{ phase: string; value: number }>;
      events: Array<{ transition: string; deliveries: Array<{ ok: boolean }> }>;
    };
    expect(report.rules[0]).toMatchObject({ phase: 'firing', value: 0.3 });
    expect(report.events).toMatchObject([{ transition: 'firing', deliveries: [{ ok: true, status: 200 }] }]);
    expect(receiver.received.map((r) => [r.body.rule, r.body.severity, r.body.transition])).toEqual([
      ['recall-low', 'critical', 'firing'],
    ]);

    // Another process, still firing: no second notification.
    const again = await cli(['watch', '--once']);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stdout).toMatch(/recall-low\s+critical\s+offline.recall@5\s+old\s+0.3\s+< 0.5\s+firing/);
    expect(again.stdout).toContain('0 notifications');
    expect(receiver.received).toHaveLength(1);
  });

  it('migrate status and history show the alerts of a migration', async () => {
    writeFileSync(
      join(dir, 'docs.jsonl'),
      Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `d${i}`, text: `document ${i}` })).join('\n'),
    );
    for (const args of [
      ['load', 'docs.jsonl'],
      ['backfill', '--profile', 'old'],
      ['migrate', 'plan', '--to', 'new'],
      ['migrate', 'start'],
    ]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    // The candidate's evaluation: the rule now measures it.
    appendEvaluation(join(dir, 'history.jsonl'), new Date(), [
      [profile('old'), 0.9],
      [profile('new'), 0.2],
    ]);
    const watched = await cli(['watch', '--once', '--json']);
    expect(watched.code, watched.stderr).toBe(1);
    const report = JSON.parse(watched.stdout) as { migration: string; events: Array<Record<string, unknown>> };
    expect(report.migration).toMatch(/.+/);
    // The alert of the time without a migration is closed; the rule fires anew for the migration's candidate.
    expect(report.events.map((e) => [e.transition, e.scope])).toEqual([
      ['resolved', ''],
      ['firing', report.migration],
    ]);

    const status = await cli(['migrate', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as {
      alerts: { firing: Array<{ rule: string; scope: string }>; recent: Array<{ rule: string; transition: string }> };
    };
    expect(s.alerts.firing).toMatchObject([{ rule: 'recall-low', scope: report.migration }]);
    expect(s.alerts.recent).toMatchObject([{ rule: 'recall-low', transition: 'firing' }]);
    const human = await cli(['migrate', 'status']);
    expect(human.stdout).toContain('alerts firing: recall-low');
    expect(human.stdout).toMatch(
      /\[CRITICAL\] recall-low firing: offline.recall@5 of new 0.2 .*→ http:\/\/127.0.0.1:\d+\/… ok/,
    );
    const history = await cli(['migrate', 'history']);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(/watch\s+alert: firing/);
  });

  it('refuses a bad --interval with exit 2', async () => {
    const r = await cli(['watch', '--interval', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--interval');
  });

  it('keeps evaluating until SIGTERM, then stops cleanly', async () => {
    const child = spawn(process.execPath, [BIN, '--db', target, 'watch', '--interval', '50ms', '--json'], {
      cwd: dir,
      env: { ...process.env, REEMBED_ENV: '', NODE_ENV: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const twoReports = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.split('\n').filter(Boolean).length >= 2) resolve();
      }),
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), scaled(120_000));
    await twoReports;
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('SIGTERM: stopping after this evaluation');
    for (const line of stdout.split('\n').filter(Boolean))
      expect(JSON.parse(line)).toMatchObject({ evaluator: 'watch', rules: [{ rule: 'recall-low' }] });
  });
});
