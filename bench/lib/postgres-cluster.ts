/**
 * The PostgreSQL server the write benchmark uses: REEMBED_BENCH_DATABASE_URL if set, else a
 * throwaway cluster started like the test suite's (test/helpers/postgres-server.ts: initdb in a
 * temporary directory, as the `postgres` user when running as root, on a free port), with one
 * difference that matters here: durability stays on. The test cluster turns fsync and
 * full_page_writes off, which would make a write benchmark measure nothing real.
 *
 * The test helper is a vitest global setup (it hands its URL over with project.provide), so
 * the start/stop steps are repeated here rather than shared through a third module.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const PG_BIN = process.env.REEMBED_BENCH_PG_BIN ?? process.env.REEMBED_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface BenchServer {
  /** A URL on which the bench may create and drop a database. */
  adminUrl: string;
  origin: 'REEMBED_BENCH_DATABASE_URL' | 'throwaway cluster';
  stop(): void;
}

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
  if (result.status !== 0) throw new Error(`${cmd} failed (exit ${result.status}): ${result.stderr || result.stdout}`);
}

export async function startBenchServer(): Promise<BenchServer> {
  const external = process.env.REEMBED_BENCH_DATABASE_URL;
  if (external) return { adminUrl: external, origin: 'REEMBED_BENCH_DATABASE_URL', stop: () => {} };

  const help =
    'The write benchmark needs PostgreSQL with pgvector: run `bash scripts/setup-postgres.sh` (as root), ' +
    'set REEMBED_BENCH_DATABASE_URL, or leave postgres out with REEMBED_BENCH_BACKENDS=pglite.';
  if (!existsSync(join(PG_BIN, 'initdb'))) throw new Error(`initdb not found in ${PG_BIN}. ${help}`);
  const share = execFileSync(join(PG_BIN, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(share, 'extension', 'vector.control'))) throw new Error(`pgvector is not installed. ${help}`);

  // initdb refuses to run as root; the machine's postgres user owns the cluster then.
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  // --no-sync only skips initdb's final flush of the empty cluster; the server itself syncs.
  run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], asPostgres);
  const opts = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses='127.0.0.1'", '-c shared_buffers=256MB'].join(' ');
  run(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start'], asPostgres);

  let stopped = false;
  // Synchronous, so it also works from a signal handler.
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      run(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], asPostgres);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stop();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, origin: 'throwaway cluster', stop };
}

/** A fresh database on the server, so the bench never touches existing tables; dropped afterwards. */
export async function createScratchDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `reembed_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
