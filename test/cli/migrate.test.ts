import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { createArticles } from '../backfill/helpers.js';
import { runCli } from '../helpers/cli.js';
import { createServerDatabase } from '../helpers/databases.js';

const MANIFEST = `source: { table: public.articles, id: id, text: "{title}\\n\\n{body}" }
profiles:
  old: { provider: hash, dims: 32 }
  new: { provider: hash, dims: 64, template: "{body}" }
environments:
  development: { profile: old }
rollout:
  segments: [{ name: internal, prefixes: ["staff-"] }]
  deny: { subjects: [vip] }
`;

describe('migrate and search commands on postgres', () => {
  let dir: string;
  let url: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reembed-cli-migrate-'));
    writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
    const server = await createServerDatabase();
    url = server.url;
    drop = server.drop;
    const db = await openDatabase(url, { migrations });
    await createArticles(db, 300);
    await db.close();
  });
  afterAll(() => drop());

  const cli = (...args: string[]) => runCli(['--db', url, ...args], { cwd: dir });
  const json = async (...args: string[]) => {
    const r = await cli(...args, '--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  it('runs a migration end to end and refuses what it must, with exit codes', async () => {
    expect((await cli('backfill', '--profile', 'old')).code).toBe(0);
    const plan = await json('migrate', 'plan', '--to', 'new', '--actor', 'ops');
    expect(plan.migration).toMatchObject({ control: 'old', candidate: 'new', phase: 'planned' });
    expect(plan.estimate).toMatchObject({ rows: 300, toEmbed: 300 });
    expect((await cli('migrate', 'plan', '--to', 'new')).code).toBe(1); // one active migration per source
    expect((await json('migrate', 'start')).phase).toBe('backfilling');
    const early = await cli('migrate', 'ramp', '5');
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/cannot ramp a migration in phase backfilling/);
    expect((await json('migrate', 'shadow', '--sample', '0.2')).phase).toBe('shadow');
    const notReady = await cli('migrate', 'ramp', '5');
    expect(notReady.code).toBe(1);
    expect(notReady.stderr).toMatch(/candidate new is not ready \(coverage 0\.00%/);
    expect((await cli('worker', '--drain')).code).toBe(0);
    expect((await json('migrate', 'ramp', '5')).percent).toBe(5);
    expect((await cli('migrate', 'ramp', '5')).code).toBe(0); // already there: a no-op
    expect((await cli('migrate', 'ramp', '3')).stderr).toMatch(/ramp only goes up/);
    const status = await json('migrate', 'status');
    expect(status).toMatchObject({ servingPercent: 5, coverage: { old: 1, new: 1 } });
    // Two scripts acting on the same version: the second is refused.
    const v = status.migration.version;
    expect((await cli('migrate', 'ramp', '25', '--expect-version', String(v))).code).toBe(0);
    const stale = await cli('migrate', 'ramp', '50', '--expect-version', String(v));
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/changed by someone else/);

    const found = await json('search', 'Body of article', '--subject', 'someone', '--k', '3');
    expect(['old', 'new']).toContain(found.profile);
    // The bucket command says who serves a subject, as the router does.
    const b = await json('migrate', 'bucket', '--subject', 'someone');
    expect(b).toMatchObject({
      subject: 'someone',
      servedBy: found.profile,
      migration: { phase: 'canary', percent: 25 },
    });
    expect(b.bucket).toBeGreaterThanOrEqual(1);
    expect(b.bucket).toBeLessThanOrEqual(100);
    expect(b.candidateServes).toBe(b.bucket <= 25);
    expect(found.hits).toHaveLength(3);
    expect(found.latencyMs).toMatchObject({ embed: expect.any(Number), search: expect.any(Number) });
    const human = await cli('search', 'cats', '--k', '2');
    expect(human.stdout).toMatch(/^served by old · migration m_[0-9a-f]+ canary 25%$/m);
    // The step's served share beside its percentage (two searches of this step so far).
    const shown = await cli('metrics', 'show');
    expect(shown.stdout).toMatch(
      /^canary m_[0-9a-f]+: new served \d+\.\d% of 2 searches in this step \(expected 25%\)$/m,
    );

    expect((await cli('migrate', 'rollback')).code).toBe(2); // --reason is required
    expect((await json('migrate', 'rollback', '--reason', 'p95 too high')).phase).toBe('rolled_back');
    const history = await json('migrate', 'history');
    expect(history.events.map((e: { action: string }) => e.action)).toEqual([
      'plan',
      'start',
      'shadow',
      'ramp',
      'ramp',
      'rollback',
    ]);
    expect(history.events[0].actor).toBe('ops');
    expect(history.events.at(-1)).toMatchObject({ reason: 'p95 too high', toPercent: 0 });
    expect((await json('search', 'cats', '--subject', 'anyone')).profile).toBe('old');
  });

  it('rolls back after finalize only with --force, and the catch-up backfill brings the control back', async () => {
    const plan = await json('migrate', 'plan', '--to', 'new');
    expect(plan.migration.phase).toBe('planned');
    await json('migrate', 'start');
    expect((await cli('worker', '--drain')).code).toBe(0);
    await json('migrate', 'shadow', '--sample', '0');
    await json('migrate', 'ramp', '50');
    await json('migrate', 'cutover');
    expect((await json('migrate', 'finalize')).phase).toBe('finalized');
    // Written while the control is not: it falls behind.
    const db = await openDatabase(url, { migrations });
    await db.query(`UPDATE public.articles SET body = body || ' changed after finalize' WHERE id <= 10`);
    await db.close();
    const refused = await cli('migrate', 'rollback', '--reason', 'regression');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/roll back with --force/);
    const forced = await json('migrate', 'rollback', '--reason', 'regression found late', '--force');
    expect(forced.phase).toBe('rolled_back');
    expect((await json('search', 'cats', '--subject', 'anyone')).profile).toBe('old');
    expect((await cli('verify', '--profile', 'old')).code).toBe(1);
    expect((await cli('worker', '--drain')).code).toBe(0);
    const verified = await cli('verify', '--profile', 'old');
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const history = await json('migrate', 'history');
    expect(history.events.at(-1)).toMatchObject({
      action: 'rollback',
      reason: 'regression found late',
      details: { forced: true, controlCatchUp: true },
    });
    expect((await cli('migrate', 'history')).stdout).toMatch(/rollback \(forced\)/);
  });

  it('ramps to a named segment first, and says who is in it', async () => {
    await json('migrate', 'plan', '--to', 'new');
    await json('migrate', 'start');
    expect((await cli('worker', '--drain')).code).toBe(0);
    await json('migrate', 'shadow', '--sample', '0');
    const none = await cli('migrate', 'ramp');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/ramp needs a percentage, --segment NAME, or both/);
    const unknown = await cli('migrate', 'ramp', '--segment', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no segment "nope" in rollout\.segments of the manifest \(it has: internal\)/);
    const human = await cli('migrate', 'ramp', '--segment', 'internal');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/phase canary, candidate serves 0% and segment internal \(deny-list applies\)/);
    const staff = await json('migrate', 'bucket', '--subject', 'staff-7');
    expect(staff).toMatchObject({ servedBy: 'new', candidateServes: true, segment: 'internal', denied: false });
    expect((await json('search', 'cats', '--subject', 'staff-7')).profile).toBe('new');
    const vip = await json('migrate', 'bucket', '--subject', 'vip');
    expect(vip).toMatchObject({ servedBy: 'old', candidateServes: false, segment: null, denied: true });
    expect((await cli('migrate', 'bucket', '--subject', 'vip')).stdout).toMatch(/on the deny-list/);
    const history = await json('migrate', 'history');
    expect(history.events.at(-1)).toMatchObject({ action: 'ramp', toPercent: 0, details: { segments: ['internal'] } });
    await json('migrate', 'rollback', '--reason', 'done with the segment test');
  });
});
