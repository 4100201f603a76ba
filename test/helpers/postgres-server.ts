/**
 * Vitest global setup: a throwaway PostgreSQL 15 + pgvector cluster for the whole run, in a
 * temporary directory on a free port, stopped and deleted afterwards. Nothing depends on state
 * from an earlier run. REEMBED_TEST_DATABASE_URL points the suite at an existing server instead
 * (each test file still creates and drops its own database there).
 *
 * There is no skip: when the server cannot start, the run fails and says how to set it up.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

const PG_BIN = process.env.REEMBED_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function run(cmd: string, args: string[], asPostgres: boolean): void {
  const [file, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const result = spawnSync(file, argv, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${cmd} failed (exit ${result.status}): ${result.stderr || result.stdout}`);
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.REEMBED_TEST_DATABASE_URL;
  if (external) {
    project.provide('postgresUrl', external);
    return async () => {};
  }
  const help =
    'The test suite needs PostgreSQL 15 with pgvector: run `bash scripts/setup-postgres.sh` (as root), ' +
    'or set REEMBED_TEST_DATABASE_URL to a server with pgvector.';
  if (!existsSync(join(PG_BIN, 'initdb'))) throw new Error(`initdb not found in ${PG_BIN}. ${help}`);
  const share = execFileSync(join(PG_BIN, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(share, 'extension', 'vector.control'))) throw new Error(`pgvector is not installed. ${help}`);

  // initdb refuses to run as root; the machine's postgres user owns the cluster then.
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'reembed-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], asPostgres);
  const opts = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
    '-c shared_buffers=256MB',
  ].join(' ');
  run(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start'], asPostgres);
  project.provide('postgresUrl', `postgres://postgres@127.0.0.1:${port}/postgres`);

  return async () => {
    try {
      run(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], asPostgres);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
