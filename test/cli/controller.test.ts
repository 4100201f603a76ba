import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildManifest } from '../../src/config/manifest.js';
import { openDatabase } from '../../src/db/open.js';
import { acquireLease } from '../../src/gates/lease.js';
import { migrations } from '../../src/schema.js';
import { runCli } from '../helpers/cli.js';

const PROFILES = `profiles:
  old: { provider: hash, dims: 32 }
  new: { provider: hash, dims: 64 }
environments:
  development: { profile: old }
`;

/** A working directory with the embedded database, 120 managed documents and a started migration old → new. */
async function startedMigration(rollout: string): Promise<{ dir: string; manifest: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-controller-'));
  const manifest = `${PROFILES}rollout:\n${rollout}`;
  writeFileSync(join(dir, 'reembed.yaml'), manifest);
  writeFileSync(
    join(dir, 'docs.jsonl'),
    Array.from({ length: 120 }, (_, i) =>
      JSON.stringify({ id: `d${i}`, text: `document ${i} about topic ${i % 7}` }),
    ).join('\n'),
  );
  for (const args of [
    ['load', 'docs.jsonl'],
    ['backfill', '--profile', 'old'],
    ['migrate', 'plan', '--to', 'new'],
    ['migrate', 'start'],
    ['worker', '--drain'],
  ]) {
    const r = await runCli(args, { cwd: dir });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  return { dir, manifest };
}

describe('reembed controller (embedded database)', () => {
  it('holds without an offline evaluation, then promotes to cutover on stored evidence', async () => {
    const { dir, manifest } = await startedMigration(`  steps: [50, 100]
  interval: 100ms
  step_min_duration: 0
  step_min_requests: 0
  shadow_sample: 0
  gates:
    - { name: coverage, metric: coverage, min: 1 }
    - { name: verify, metric: verify.failed_checks, max: 0 }
    - { name: recall, metric: offline.recall@5, max_decrease: 0.05 }
`);
    // backfilling → shadow needs only the store gates.
    const first = await runCli(['controller', '--once'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/backfilling: PROMOTE — controller: every gate passed \(coverage, verify\)/);
    // From shadow, the offline gate applies: no evaluation of these profiles yet, so it holds.
    const held = await runCli(['controller', '--once'], { cwd: dir });
    expect(held.code).toBe(0);
    expect(held.stdout).toMatch(/shadow: HOLD — recall: no data for the candidate \(no evaluation of old and new/);
    expect(held.stdout).toMatch(/reembed eval --dataset DIR --profiles old,new/);

    // An evaluation history that measured exactly these configurations (by fingerprint).
    const profiles = buildManifest(parse(manifest), null).profiles;
    const summary = (recallAt5: number) => ({
      recallAt1: 0.3,
      recallAt5,
      recallAt10: 0.7,
      recallAt50: 0.9,
      mrrAt10: 0.5,
      ndcgAt10: 0.55,
      containAt50: 0.95,
      judgedQueries: 10,
      unjudgedQueries: 0,
    });
    const entry = {
      time: new Date().toISOString(),
      dataset: { name: 'fixture', dir: '/nowhere', split: 'test', documents: 120, queries: 10 },
      profiles: [
        { profile: 'old', fingerprint: profiles.get('old')!.fingerprint, exact: summary(0.6) },
        { profile: 'new', fingerprint: profiles.get('new')!.fingerprint, exact: summary(0.58) },
      ],
    };
    mkdirSync(join(dir, '.reembed'), { recursive: true });
    // A line for another configuration of "new" comes later and must not be taken.
    const other = { ...entry, profiles: [entry.profiles[0], { ...entry.profiles[1], fingerprint: 'other' }] };
    writeFileSync(join(dir, '.reembed', 'eval-history.jsonl'), `${JSON.stringify(entry)}\n${JSON.stringify(other)}\n`);

    const run = await runCli(['controller'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/shadow: PROMOTE .*promoting to 50%/);
    expect(run.stdout).toMatch(/canary 50%: PROMOTE .*promoting to 100%/);
    expect(run.stdout).toMatch(/cutover: COMPLETE/);
    expect(run.stdout).toMatch(/recall\s+offline\.recall@5\s+0\.58\s+0\.6\s+≥ control − 0\.05\s+PASS/);

    const status = await runCli(['migrate', 'status', '--json'], { cwd: dir });
    const s = JSON.parse(status.stdout);
    expect(s.migration.phase).toBe('cutover');
    expect(s.controller.lastTick.decision).toBe('complete');
    expect(s.controller.gates.map((g: { gate: string }) => g.gate).sort()).toEqual(['coverage', 'recall', 'verify']);
    const human = await runCli(['migrate', 'status'], { cwd: dir });
    expect(human.stdout).toMatch(/latest measurement of each gate/);

    const history = JSON.parse((await runCli(['migrate', 'history', '--measurements', '--json'], { cwd: dir })).stdout);
    expect(history.ticks.map((t: { decision: string }) => t.decision)).toEqual([
      'promote',
      'hold',
      'promote',
      'promote',
      'complete',
    ]);
    const recall = history.measurements.filter((x: { gate: string }) => x.gate === 'recall');
    expect(recall.map((x: { verdict: string }) => x.verdict)).toEqual(['no_data', 'pass', 'pass']);
    expect(recall.at(-1)).toMatchObject({ candidate: 0.58, control: 0.6 });
    expect(history.events.filter((e: { actor: string }) => e.actor === 'controller')).toHaveLength(3);
  });

  it('rolls back at a gate’s failure limit and exits 1', async () => {
    const { dir } = await startedMigration(`  interval: 100ms
  gates:
    - { name: impossible, metric: coverage, min: 2, failure_limit: 1 }
`);
    const r = await runCli(['controller'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ROLLBACK — gate impossible failed 1 times \(failure limit 1\): coverage 1 < 2/);
    const history = JSON.parse((await runCli(['migrate', 'history', '--json'], { cwd: dir })).stdout);
    expect(history.migration.phase).toBe('rolled_back');
    expect(history.events.at(-1)).toMatchObject({ actor: 'controller', action: 'rollback' });
  });

  it('stands by while another controller holds the lease, and takes over when it expires', async () => {
    const { dir } = await startedMigration(`  steps: [50, 100]
  interval: 200ms
  step_min_duration: 0
  step_min_requests: 0
  shadow_sample: 0
  gates:
    - { name: coverage, metric: coverage, min: 1 }
`);
    const before = JSON.parse((await runCli(['migrate', 'status', '--json'], { cwd: dir })).stdout);
    expect(before.controller).toBeNull();
    // A controller elsewhere (another host) holds the lease of this source, renewed just now.
    const elsewhere = async (ms: number) => {
      const db = await openDatabase(join(dir, '.reembed'), { migrations });
      try {
        await acquireLease(db, before.migration.source, { holder: 'elsewhere-7-abc', host: 'elsewhere', pid: 7 }, ms);
      } finally {
        await db.close();
      }
    };
    await elsewhere(60_000);
    const once = await runCli(['controller', '--once', '--json'], { cwd: dir });
    expect(once.code, once.stderr).toBe(0);
    expect(JSON.parse(once.stdout)).toMatchObject({
      standby: { source: before.migration.source, lease: { holder: 'elsewhere-7-abc', host: 'elsewhere', pid: 7 } },
    });
    const status = await runCli(['migrate', 'status'], { cwd: dir });
    expect(status.stdout).toMatch(
      /controller lease: host elsewhere, pid 7 \(elsewhere-7-abc\), since .*, renewed .*, until /,
    );
    const human = await runCli(['controller', '--once'], { cwd: dir });
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(
      /controller: another controller drives the rollout of .* \(host elsewhere, pid 7; lease until .*\); nothing done/,
    );
    expect(JSON.parse((await runCli(['migrate', 'history', '--json'], { cwd: dir })).stdout).ticks).toEqual([]);

    // It stops renewing: the lease runs out 8 s from now (longer than a loaded machine takes to
    // start the CLI), and the waiting controller takes over.
    await elsewhere(8000);
    const run = await runCli(['controller'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.match(/\(host elsewhere, pid 7; lease until .*\); standing by, to take over/g)).toHaveLength(1);
    expect(run.stderr).toMatch(/took over the rollout from host elsewhere, pid 7/);
    expect(run.stdout).toMatch(/cutover: COMPLETE/);
    const after = JSON.parse((await runCli(['migrate', 'status', '--json'], { cwd: dir })).stdout);
    expect(after.controller.lease).toBeNull();
    expect(after.migration.phase).toBe('cutover');
  });

  it('refuses a bad rollout configuration with exit 2, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-controller-'));
    writeFileSync(join(dir, 'reembed.yaml'), `${PROFILES}rollout:\n  steps: [50, 25]\n  interval: often\n`);
    const r = await runCli(['controller', '--once'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rollout\.steps: steps must increase/);
    expect(r.stderr).toMatch(/rollout\.interval: not a duration: "often"/);
  });
});
