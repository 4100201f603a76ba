/**
 * Issue 14 findings 1 and 6: a second process on the same embedded data directory got no error
 * and its writes were silently lost; the directory was world-writable under umask 022.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseLockedError, LOCK_FILE } from '../../src/db/data-dir-lock.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { runCli } from '../helpers/cli.js';

const HOLDER = fileURLToPath(new URL('../fixtures/hold-embedded.mjs', import.meta.url));
const children: ChildProcess[] = [];

/** Starts a holder and resolves with its first JSON line (ready, or the error it exited with). */
function hold(dir: string): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const child = spawn(process.execPath, [HOLDER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: JSON.parse(out.slice(0, nl)) as Record<string, unknown> });
    });
    child.on('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`holder exited ${code} without a line: ${err}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A pid that ran and is gone: a finished child's. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await exited(c);
  }
});

describe('the embedded data directory lock', () => {
  it('refuses a second opener at once, naming the holder, and takes over after the holder dies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lock-'));
    const { child, line } = await hold(dir);
    expect(line).toMatchObject({ ready: true, pid: child.pid });
    const refused = await openDatabase(dir, { migrations }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(DatabaseLockedError);
    expect((refused as DatabaseLockedError).exitCode).toBe(2);
    expect((refused as DatabaseLockedError).holder?.pid).toBe(child.pid);
    expect((refused as Error).message).toContain(`in use by pid ${child.pid}`);
    expect((refused as Error).message).toContain('hold-embedded.mjs');

    // SIGKILL leaves the lock file behind; the next opener finds its holder dead and takes it.
    child.kill('SIGKILL');
    await exited(child);
    expect(readdirSync(dir)).toContain(LOCK_FILE);
    const db = await openDatabase(dir, { migrations });
    try {
      const { rows } = await db.query<{ pid: number }>('SELECT pid FROM public.held');
      expect(rows.map((r) => r.pid)).toEqual([child.pid]);
    } finally {
      await db.close();
    }
    expect(readdirSync(dir)).not.toContain(LOCK_FILE);
    // close() twice is harmless.
    await db.close();
  });

  it('lets exactly one of two processes take over the same stale lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lock-'));
    await (await openDatabase(dir, { migrations })).close();
    const stale = { pid: deadPid(), host: hostname(), started: null, command: 'gone', since: new Date().toISOString() };
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(stale));
    const [a, b] = await Promise.all([hold(dir), hold(dir)]);
    const lines = [a.line, b.line];
    expect(lines.filter((l) => l.ready === true)).toHaveLength(1);
    expect(lines.filter((l) => l.error === 'DATABASE_LOCKED')).toHaveLength(1);
  });

  it('exits 2 from a second CLI process instead of losing its writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-lock-cli-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, 'docs.jsonl'), `${JSON.stringify({ id: 'a', text: 'one' })}\n`);
    const { child } = await hold(join(dir, '.reembed'));
    const load = await runCli(['load', 'docs.jsonl', '--json'], { cwd: dir });
    expect(load.code).toBe(2);
    expect(load.stderr).toContain(`in use by pid ${child.pid}`);
    expect(JSON.parse(load.stdout).error).toMatchObject({ code: 'DATABASE_LOCKED' });
  });

  it('keeps the directory owner-only under umask 022', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'reembed-perm-')), 'data');
    const { child } = await hold(dir);
    child.kill('SIGTERM');
    await exited(child);
    const open: string[] = [];
    const walk = (path: string): void => {
      const st = statSync(path);
      if ((st.mode & 0o077) !== 0) open.push(`${path} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e));
    };
    walk(dir);
    expect(readdirSync(dir).length).toBeGreaterThan(5);
    expect(open).toEqual([]);
  });
});
