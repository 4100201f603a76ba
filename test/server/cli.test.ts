/**
 * `reembed serve` as a user starts it: the built CLI in a child process on the embedded
 * database. It refuses admin routes without a token on a non-loopback address, serves on a free
 * port, logs one JSON line per request without the token, and stops cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { manifestFile } from './harness.js';

const TOKEN = 'cli-admin-token-xyz';

describe('reembed serve (CLI)', () => {
  it('refuses admin routes without a token on a non-loopback host (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-serve-cli-'));
    manifestFile(dir);
    const run = await runCli(['serve', '--host', '0.0.0.0', '--open-admin', '--port', '0'], {
      cwd: dir,
      env: { REEMBED_ENV: 'test', REEMBED_ADMIN_TOKEN: '' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('refusing to serve admin routes without a token on 0.0.0.0');
  });

  it('serves on a free port, logs requests without the token, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-serve-cli-'));
    manifestFile(dir);
    const child = spawn(process.execPath, [BIN, '--json', 'serve', '--port', '0', '--db', join(dir, 'data')], {
      cwd: dir,
      env: { ...process.env, REEMBED_ENV: 'test', REEMBED_ADMIN_TOKEN: TOKEN, REEMBED_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const line = stdout.split('\n').find((l) => l.includes('"listening"'));
          if (line) resolve((JSON.parse(line) as { listening: string }).listening);
        });
        void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const ready = await fetch(`${url}/ready`);
      expect(ready.status).toBe(200);
      const pause = await fetch(`${url}/v1/backfill/base/pause`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(pause.status).toBe(200);
      expect(await pause.json()).toMatchObject({ profile: 'base', paused: true });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const requests = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; url?: string; status?: number })
      .filter((l) => l.msg === 'request');
    expect(requests.map((r) => [r.url, r.status])).toEqual([
      ['/health', 200],
      ['/ready', 200],
      ['/v1/backfill/base/pause', 200],
    ]);
    expect(stderr).not.toContain(TOKEN);
    expect(stderr).toContain('serve: stopped');
  });
});
