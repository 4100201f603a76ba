/**
 * Issue 14 finding 8, the lesser defects: each one here failed before its fix.
 */
import { mkdtempSync, symlinkSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/db/postgres.js';
import { open, type DocumentInput } from '../../src/reembed.js';
import { InvalidRequestError } from '../../src/router/request.js';
import { ShapeError, toDocument } from '../../src/source/document-shapes.js';
import { truncatedPercent as coveragePercent } from '../../src/percent.js';
import { runCli } from '../helpers/cli.js';
import { createServerDatabase, postgresAdminUrl } from '../helpers/databases.js';
import { waitFor } from '../helpers/wait.js';
import { scaled } from '../helpers/slowdown.js';

describe('the LISTEN connection after an outage', () => {
  let url: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ url, drop } = await createServerDatabase());
  });
  afterAll(() => drop());

  it('reconnects when the server refused connections for a while', async () => {
    const name = new URL(url).pathname.slice(1);
    const db = await openPostgres(url);
    const got: string[] = [];
    const unlisten = await db.listen('reembed_test_channel', (p) => got.push(p));
    const admin = new pg.Client({ connectionString: postgresAdminUrl() });
    await admin.connect();
    try {
      // The outage: no new connection is accepted, and the LISTEN connection is dropped.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'reembed-listen'`,
        [name],
      );
      // Long enough for the first reconnection attempts (1 s, then 2 s) to fail.
      await new Promise((r) => setTimeout(r, 3500));
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      const notifier = new pg.Client({ connectionString: url });
      await notifier.connect();
      try {
        // Notify until heard: the listener reconnects on its own schedule (at most 30 s apart).
        const until = Date.now() + scaled(90_000);
        while (!got.includes('back') && Date.now() < until) {
          await notifier.query(`NOTIFY reembed_test_channel, 'back'`);
          await waitFor(() => got.includes('back'), 500);
        }
      } finally {
        await notifier.end();
      }
      expect(got).toContain('back');
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
      await unlisten();
      await db.close();
    }
  });
});

describe('the CLI on bad input', () => {
  it('refuses --expect-version that is not a whole number, with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lesser-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    const r = await runCli(['migrate', 'ramp', '5', '--expect-version', 'abc'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a whole number: abc/);
  });

  it('init does not write through a dangling reembed.yaml symlink', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lesser-'));
    const target = join(dir, 'elsewhere', 'victim.yaml');
    symlinkSync(target, join(dir, 'reembed.yaml'));
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/reembed\.yaml/);
    expect(existsSync(target)).toBe(false);
  });

  it('reports a YAML alias bomb as a configuration error with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lesser-'));
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(',')}]`);
    }
    writeFileSync(join(dir, 'reembed.yaml'), `${levels.join('\n')}\nprofiles: {}\n`);
    const r = await runCli(['profiles', 'check', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(JSON.parse(r.stdout).error.code).toBe('CONFIG_INVALID');
  });
});

describe('library upsert on bad documents', () => {
  it('refuses what load refuses, before writing anything, and close() twice is harmless', async () => {
    const rb = await open({
      config: {
        source: { managed: true, text: '{content}' },
        profiles: { h: { provider: 'hash', dims: 8 } },
        environments: { development: { profile: 'h' } },
      },
      db: 'memory://',
      env: { REEMBED_ENV: 'development' },
    });
    try {
      const bad: unknown[] = [
        { id: '', content: 'x' },
        { id: { toString: () => 'a' }, content: 'x' },
        { id: 7, content: 'x' },
        { id: 'a', content: 'lone \ud800 surrogate' },
        { id: 'a', content: 'nul \u0000' },
        { id: 'a', content: 5 },
        { id: 'a', content: 'x', metadata: [1] },
      ];
      for (const doc of bad) {
        const error = await rb.upsert([{ id: 'good', content: 'fine' }, doc as DocumentInput]).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error, JSON.stringify(doc)).toBeInstanceOf(InvalidRequestError);
      }
      // An empty text with sync would be written, then fail to embed: refused before the write.
      const empty = await rb
        .upsert(
          [
            { id: 'good', content: 'fine' },
            { id: 'blank', content: '   ' },
          ],
          { sync: true },
        )
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(empty).toBeInstanceOf(InvalidRequestError);
      // Nothing of the refused batches was written: the first write of 'good' inserts it.
      expect(await rb.upsert([{ id: 'good', content: 'fine' }])).toEqual({ written: 1, embedded: 0 });
    } finally {
      await rb.close();
    }
    await rb.close();
  });
});

describe('terminal escapes in data', () => {
  it('prints an actor or reason holding ESC sequences escaped, never raw', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lesser-'));
    writeFileSync(
      join(dir, 'reembed.yaml'),
      `profiles:\n  a: { provider: hash, dims: 8 }\n  b: { provider: hash, dims: 16 }\nenvironments:\n  development: { profile: a }\n`,
    );
    const evil = '\u001b]0;pwned\u0007\u001b[2J';
    expect((await runCli(['migrate', 'plan', '--to', 'b', '--actor', evil], { cwd: dir })).code).toBe(0);
    const history = await runCli(['migrate', 'history'], { cwd: dir });
    expect(history.code).toBe(0);
    expect(history.stdout).not.toContain('\u001b');
    expect(history.stdout).toContain('\\u001b]0;pwned\\u0007');
    const abort = await runCli(['migrate', 'abort', '--reason', `bad ${evil}`, '--actor', evil], { cwd: dir });
    expect(abort.stdout + abort.stderr).not.toContain('\u001b');
  });
});

describe('documents a load reads', () => {
  it('keeps toString, constructor and __proto__ as ordinary metadata keys', () => {
    const doc = toDocument(
      JSON.parse('{"id":"a","text":"x","toString":"1","constructor":"2","__proto__":{"x":1}}'),
      'plain',
    );
    // Compared as JSON text: an object literal's __proto__ would set a prototype, not a key.
    expect(JSON.stringify(doc.metadata)).toBe('{"toString":"1","constructor":"2","__proto__":{"x":1}}');
    expect(Object.getPrototypeOf(doc.metadata)).toBe(Object.prototype);
  });

  it('refuses a number that overflows and metadata nested past the limit, as shape errors with a line', () => {
    expect(() => toDocument(JSON.parse('{"id":"a","text":"x","big":1e400}'), 'plain')).toThrow(/cannot hold/);
    const deep = `{"id":"a","text":"x","m":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(() => toDocument(JSON.parse(deep), 'plain')).toThrow(ShapeError);
  });
});

describe('coverage as printed', () => {
  it('is truncated, never rounded up to 100.00% while a row is missing', () => {
    expect(coveragePercent(5243 / 5244)).toBe('99.98%');
    expect(coveragePercent(0.99999)).toBe('99.99%');
    expect(coveragePercent(1)).toBe('100.00%');
    expect(coveragePercent(0.9999, 1)).toBe('99.9%');
  });
});
