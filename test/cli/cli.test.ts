import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createServerDatabase } from '../helpers/databases.js';
import { runCli } from '../helpers/cli.js';
import pg from 'pg';
import { migrations } from '../../src/schema.js';

const SCHEMA_VERSION = migrations.at(-1)!.version;

const tempDir = () => mkdtempSync(join(tmpdir(), 'reembed-cli-'));

const MANIFEST = `
profiles:
  base_a: { provider: hash, dims: 64 }
  cand_b: { provider: hash, dims: 128, metric: ip }
environments:
  development: { profile: base_a }
  production: { profile: base_a }
`;

function project(manifest = MANIFEST): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'reembed.yaml'), manifest);
  return dir;
}

describe('reembed CLI', () => {
  it('explains itself with --help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['init', 'profiles', 'embed', 'demo']) expect(r.stdout).toContain(command);
    expect(r.stdout).toMatch(/Exit codes: 0 ok, 1 .*2 usage or configuration error/);
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const r = await runCli(['profiles', 'list', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--nope'/);
  });

  it('init writes a valid starter manifest and the schema in the embedded database, and keeps both on rerun', async () => {
    const dir = tempDir();
    const first = await runCli(['init', '--json'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const out = JSON.parse(first.stdout);
    expect(out).toMatchObject({ wroteManifest: true, schemaVersion: SCHEMA_VERSION });
    expect(out.database).toBe(join(dir, '.reembed'));
    expect(existsSync(join(dir, '.reembed'))).toBe(true);
    writeFileSync(join(dir, 'reembed.yaml'), readFileSync(join(dir, 'reembed.yaml'), 'utf8') + '\n# mine\n');
    const second = await runCli(['init', '--json'], { cwd: dir });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ wroteManifest: false, schemaVersion: SCHEMA_VERSION });
    expect(readFileSync(join(dir, 'reembed.yaml'), 'utf8')).toContain('# mine');
    const list = await runCli(['profiles', 'list', '--json'], { cwd: dir });
    expect(JSON.parse(list.stdout).map((p: { name: string }) => p.name)).toEqual(['hash_small']);
  });

  it('init creates the schema on a PostgreSQL server given by REEMBED_DATABASE_URL', async () => {
    const server = await createServerDatabase();
    try {
      const r = await runCli(['init'], { cwd: tempDir(), env: { REEMBED_DATABASE_URL: server.url } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`reembed schema at version ${SCHEMA_VERSION}`);
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const { rows } = await client.query('SELECT count(*)::int AS n FROM reembed.schema_migrations');
      await client.end();
      expect(rows[0].n).toBe(migrations.length);
    } finally {
      await server.drop();
    }
  });

  it('lists profiles with fingerprints', async () => {
    const r = await runCli(['profiles', 'list'], { cwd: project() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^profile\s+provider\s+model\s+dims\s+metric\s+normalize\s+fingerprint$/m);
    expect(r.stdout).toMatch(/^cand_b\s+hash\s+-\s+128\s+ip\s+true\s+[0-9a-f]{16}$/m);
  });

  it('profiles check prints the matrix and exits 0 when the current environment is fine', async () => {
    const r = await runCli(['profiles', 'check', '--json'], { cwd: project(), env: { REEMBED_ENV: 'production' } });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    expect(out.matrix.find((m: { environment: string }) => m.environment === 'production')).toMatchObject({
      baseline: 'base_a',
      override: null,
      active: 'base_a',
      swappable: false,
      experiment: null,
      current: true,
    });
  });

  it('profiles check names the namespace mode, refuses a bad one, and profiles release gives a claim up', async () => {
    const dir = project();
    const env = { REEMBED_ENV: 'production', EMBEDDING_NAMESPACE_MODE: 'isolated' };
    const r = await runCli(['profiles', 'check'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^embedding_strict_mode=false · embedding_namespace_mode=isolated$/m);
    const bad = await runCli(['profiles', 'check'], { cwd: dir, env: { ...env, EMBEDDING_NAMESPACE_MODE: 'weird' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/EMBEDDING_NAMESPACE_MODE="weird" is not one of shared, isolated/);
    const released = await runCli(['profiles', 'release', 'base_a', '--json'], { cwd: dir, env });
    expect(released.code, released.stderr).toBe(0);
    expect(JSON.parse(released.stdout)).toEqual({ profile: 'base_a', environment: null });
    const unknown = await runCli(['profiles', 'release', 'nope'], { cwd: dir, env });
    expect(unknown.code).toBe(2);
  });

  it('profiles check exits 2 on an override production does not allow, naming the variables', async () => {
    const env = { REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'cand_b' };
    const r = await runCli(['profiles', 'check'], { cwd: project(), env });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^\*\s+production\s+base_a\s+cand_b\s+-\s+false\s+-\s+VIOLATION$/m);
    expect(r.stdout).toMatch(
      /^\s+development\s+base_a\s+cand_b\s+cand_b\s+false\s+-\s+ok \(development environment\)$/m,
    );
    expect(r.stdout).toContain('error [production]: EMBEDDINGS_PROFILE=cand_b overrides the baseline profile base_a');
    expect(r.stdout).toContain('EMBEDDING_PROFILE_SWAPPABLE=true');
    // The same override with the experiment flag passes.
    const ok = await runCli(['profiles', 'check', '--json'], {
      cwd: project(),
      env: { ...env, EMBEDDING_PROFILE_EXPERIMENT: 'cand_b' },
    });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).matrix.find((m: { current: boolean }) => m.current)).toMatchObject({
      active: 'cand_b',
      allowedBy: 'EMBEDDING_PROFILE_EXPERIMENT',
    });
    // --env checks another environment than the current one.
    const dev = await runCli(['profiles', 'check', '--env', 'development'], { cwd: project(), env });
    expect(dev.code).toBe(0);
  });

  it('refuses to start a command on a gated override, with exit 2 and the reason', async () => {
    const r = await runCli(['embed', 'hello'], {
      cwd: project(),
      env: { REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'cand_b' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^reembed: EMBEDDINGS_PROFILE=cand_b overrides the baseline profile base_a of environment "production", which is not allowed/m,
    );
    expect(r.stdout).toBe('');
  });

  it('reports every configuration problem at once with exit 2', async () => {
    const dir = project(
      'profiles:\n  a: { provider: nope, dims: 8 }\n  b: { provider: hash, dims: -1 }\nenvironments:\n  production: { profile: c }\n',
    );
    const r = await runCli(['profiles', 'list'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('3 configuration problems:');
    expect(r.stderr).toContain('- profiles.a.provider: unknown provider "nope"');
    expect(r.stderr).toContain('- profiles.b.dims: dims must be at least 1');
    expect(r.stderr).toContain('- environments.production.profile: unknown profile "c"');
    const json = await runCli(['profiles', 'list', '--json'], { cwd: dir });
    expect(JSON.parse(json.stdout).error.code).toBe('CONFIG_INVALID');
  });

  it('says how to start when there is no manifest', async () => {
    const r = await runCli(['profiles', 'list'], { cwd: tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no reembed\.yaml in .*: run `reembed init`/);
  });

  it('embeds a text with the hash profile: dims, unit norm, first values, and the whole vector in JSON', async () => {
    const dir = project();
    const human = await runCli(['embed', '--profile', 'cand_b', 'The quick brown fox'], { cwd: dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^dims\s+128$/m);
    expect(human.stdout).toMatch(/^norm\s+1\.000000$/m);
    expect(human.stdout).toMatch(/^first values \[(-?\d\.\d{4}, ){8}…\]$/m);
    const json = await runCli(['embed', 'The quick brown fox', '--json', '--query'], { cwd: dir });
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ profile: 'base_a', dims: 64, purpose: 'query' });
    expect(out.vector).toHaveLength(64);
    expect(Math.hypot(...out.vector)).toBeCloseTo(1, 5);
    // The active profile is announced in the start-up banner on stderr.
    expect(json.stderr).toMatch(/embedding_profile=base_a \(baseline\)/);
  });

  it('refuses an empty text with a typed error and exit 1', async () => {
    const r = await runCli(['embed', '--profile', 'base_a', '   '], { cwd: project() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^reembed: .*empty/im);
  });

  it('runs the demo: two backfills, live changes through capture, verify, and retrieval metrics', async () => {
    const r = await runCli(['demo', '--documents', '2000', '--queries', '60', '--json'], { cwd: tempDir() });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ documents: 2000, queries: 60, database: 'memory://' });
    expect(out.profiles.map((p: { profile: string }) => p.profile)).toEqual(['hash_small', 'hash_large']);
    for (const p of out.profiles) {
      expect(p.judgedQueries).toBe(60);
      // Lexical hashing on a corpus built for lexical matching: far above chance (10/2000).
      expect(p.recallAt10).toBeGreaterThan(0.4);
      expect(p.recallAt10).toBeLessThanOrEqual(1);
    }
    expect(out.liveChanges).toEqual({ updated: 20, deleted: 5, inserted: 1 });
    expect(out.verify).toEqual([
      { profile: 'hash_small', ok: true, coverage: 1, sourceRows: 1996, currentRows: 1996 },
      { profile: 'hash_large', ok: true, coverage: 1, sourceRows: 1996, currentRows: 1996 },
    ]);
    expect(r.stderr).toMatch(/backfill hash_large: 2000\/2000 \(100\.0%\)/);
    const rollout = out.rollout;
    expect(rollout.shadow.compared).toBe(60);
    expect(rollout.shadow.meanOverlapAt10).toBeGreaterThan(0);
    expect(rollout.shadow.meanOverlapAt10).toBeLessThan(1);
    // The controller ramped the canary by itself; every step served exactly the subjects the
    // canary hash assigns to the candidate, which come to about its share (within 5 standard
    // deviations: the migration id, and so the hash, is random).
    expect(rollout.canary.map((c: { percent: number }) => c.percent)).toEqual([5, 25, 50]);
    for (const c of rollout.canary) {
      expect(c.searches).toBeGreaterThan(50);
      expect(c.servedByCandidate).toBe(c.assignedToCandidate);
      const p = c.percent / 100;
      expect(Math.abs(c.share - p)).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / c.searches));
    }
    expect(rollout.controller.promotions.map((t: { decision: string }) => t.decision)).toEqual([
      'promote',
      'promote',
      'promote',
      'promote',
      'complete',
    ]);
    expect(rollout.cutover.servedByCandidate).toBe(100);
    expect(rollout.rollback.servedByControl).toBe(100);
    const actions = rollout.history.map((e: { actor: string; action: string }) => `${e.actor}:${e.action}`);
    expect(actions).toEqual([
      'demo:plan',
      'demo:start',
      'demo:shadow',
      'demo:shadow',
      'controller:ramp',
      'controller:ramp',
      'controller:ramp',
      'controller:cutover',
      'demo:rollback',
    ]);
    // The second attempt fails 20% of its queries: the controller rolls it back, naming the gate.
    // Mostly the error-rate gate; sometimes 5 failures in a row open the breaker first (random
    // failures at 20% make such a run likely over a few hundred searches), and the breaker gate fires.
    expect(['error-rate', 'breaker-trips']).toContain(rollout.failing.gate);
    expect(rollout.failing.rollback.reason).toMatch(
      rollout.failing.gate === 'error-rate'
        ? /^gate error-rate failed .*online\.error_rate 0\.\d+ > control 0 \+ 0\.002/
        : /^gate breaker-trips failed .*online\.breaker_opens [1-9]\d* > 0/,
    );
    expect(rollout.failing.history.at(-1)).toMatchObject({ actor: 'controller', action: 'rollback' });
    expect(rollout.failing.fallbacks).toBeGreaterThan(0);
  });
});
