/**
 * Issue 14 finding 7: a password holding `/` was printed by "cannot open postgres://…", a
 * `?password=` was printed in clear, a webhook URL with credentials was stored and printed, and
 * api_key_env could send any variable (the database URL) to a provider as a bearer token.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { redactSecrets } from '../../src/redact.js';
import { migrations } from '../../src/schema.js';
import { createArticles } from '../backfill/helpers.js';
import { runCli } from '../helpers/cli.js';
import { createServerDatabase } from '../helpers/databases.js';

const SECRET = 'Zq7/secret@Value';

describe('redactSecrets', () => {
  it('removes user-info passwords and secret query parameters, and keeps the rest', () => {
    expect(redactSecrets('cannot open postgres://app:pa/ss@db.internal:5432/x: Invalid URL')).toBe(
      'cannot open postgres://app:***@db.internal:5432/x: Invalid URL',
    );
    expect(redactSecrets('postgres://db/x?sslmode=require&password=hunter2&user=a')).toBe(
      'postgres://db/x?sslmode=require&password=***&user=a',
    );
    expect(redactSecrets('https://hooks.example/x?token=abc&api_key=def&x=1')).toBe(
      'https://hooks.example/x?token=***&api_key=***&x=1',
    );
    expect(redactSecrets('http://127.0.0.1:8080/v1 and postgres://host:5432/db')).toBe(
      'http://127.0.0.1:8080/v1 and postgres://host:5432/db',
    );
  });
});

describe('secrets in CLI output and stored audit text on postgres', () => {
  let dir: string;
  let url: string;
  let withSecret: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reembed-secrets-'));
    const server = await createServerDatabase();
    url = server.url;
    drop = server.drop;
    // The test cluster trusts every connection, so any password is accepted: a real run with a secret in the URL.
    const u = new URL(url);
    u.password = encodeURIComponent(SECRET);
    withSecret = u.toString();
    const db = await openDatabase(url, { migrations });
    await createArticles(db, 30);
    await db.close();
    writeFileSync(
      join(dir, 'reembed.yaml'),
      `source: { table: public.articles, id: id, text: "{title} {body}" }
profiles:
  old: { provider: hash, dims: 16 }
  new: { provider: hash, dims: 24 }
environments:
  development: { profile: old }
`,
    );
  });
  afterAll(() => drop());

  it('never prints or stores the secret', async () => {
    const outputs: string[] = [];
    const run = async (...args: string[]) => {
      const r = await runCli(['--db', withSecret, ...args], { cwd: dir });
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    expect((await run('backfill', '--profile', 'old')).code).toBe(0);
    expect((await run('migrate', 'plan', '--to', 'new', '--json')).code).toBe(0);
    expect((await run('migrate', 'start')).code).toBe(0);
    expect((await run('status', '--json')).code).toBe(0);
    expect((await run('migrate', 'history', '--json')).code).toBe(0);
    // Unreachable servers: the message names the target, without its password.
    const badHost = new URL(withSecret);
    badHost.port = '1';
    const refused = await runCli(['--db', badHost.toString(), 'status', '--json'], { cwd: dir });
    outputs.push(refused.stdout, refused.stderr);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/\*\*\*@/);
    const unparsable = await runCli(['--db', `postgres://app:${SECRET}@127.0.0.1:1/db`, 'status', '--json'], {
      cwd: dir,
    });
    outputs.push(unparsable.stdout, unparsable.stderr);
    expect(unparsable.code).not.toBe(0);
    const query = await runCli(['--db', `postgres://127.0.0.1:1/db?password=${encodeURIComponent(SECRET)}`, 'status'], {
      cwd: dir,
    });
    outputs.push(query.stdout, query.stderr);
    expect(query.code).not.toBe(0);

    const db = await openDatabase(url);
    try {
      const { rows } = await db.query<{ t: string }>(
        `SELECT string_agg(x::text, ' ') AS t FROM (
           SELECT e::text AS x FROM reembed.migration_events e
           UNION ALL SELECT m::text FROM reembed.migrations m) s`,
      );
      outputs.push(rows[0]?.t ?? '');
    } finally {
      await db.close();
    }
    const all = outputs.join('\n');
    for (const piece of [SECRET, encodeURIComponent(SECRET), 'secret@Value', 'Zq7'])
      expect(all.includes(piece), `found ${piece} in:\n${all}`).toBe(false);
  });

  it('refuses webhook URLs with credentials and api_key_env naming a database variable, exit 2', async () => {
    const manifest = readFileSync(join(dir, 'reembed.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'hook.yaml'),
      `${manifest}rollout:\n  webhooks: { on_rollback: "https://ops:${encodeURIComponent(SECRET)}@hooks.example/x" }\n`,
    );
    const hook = await runCli(['--config', 'hook.yaml', 'profiles', 'check'], { cwd: dir });
    expect(hook.code).toBe(2);
    expect(hook.stderr).toMatch(/webhook URL must not carry credentials/);
    expect(hook.stderr + hook.stdout).not.toContain('Zq7');
    writeFileSync(
      join(dir, 'key.yaml'),
      manifest.replace(
        'new: { provider: hash, dims: 24 }',
        'new: { provider: openai-compatible, model: m, dims: 24, base_url: "http://127.0.0.1:9/v1", api_key_env: REEMBED_DATABASE_URL }',
      ),
    );
    const key = await runCli(['--config', 'key.yaml', 'profiles', 'check'], { cwd: dir });
    expect(key.code).toBe(2);
    expect(key.stderr).toMatch(/api_key_env may not name a REEMBED_\* variable/);
  });
});
