/**
 * A throwaway PostgreSQL cluster: initdb in a temporary directory (as the `postgres` user when
 * running as root, since initdb refuses root), started on a free port of 127.0.0.1, stopped and
 * deleted by `stop()`. Shared by the test suite's global setup and the benchmarks, which differ
 * only in the server options they pass (the tests turn durability off, benchmarks keep it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = process.env.REEMBED_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface Cluster {
  url: string;
  /** The cluster's data directory (postmaster.pid holds the server's pid). */
  dataDir: string;
  /** Synchronous, so it also works from a signal handler. */
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

/** Throws with `help` when PostgreSQL's binaries or pgvector are missing. */
export function checkInstalled(help: string, bin = PG_BIN): void {
  if (!existsSync(join(bin, 'initdb'))) throw new Error(`initdb not found in ${bin}. ${help}`);
  const share = execFileSync(join(bin, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(share, 'extension', 'vector.control'))) throw new Error(`pgvector is not installed. ${help}`);
}

export async function startCluster(
  options: { serverOptions?: string[]; stopMode?: 'fast' | 'immediate'; bin?: string } = {},
): Promise<Cluster> {
  const bin = options.bin ?? PG_BIN;
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'reembed-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  // --no-sync only skips initdb's final flush of the empty cluster.
  run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], asPostgres);
  const opts = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses='127.0.0.1'", ...(options.serverOptions ?? [])].join(
    ' ',
  );
  run(join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start'], asPostgres);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir: data,
    stop: () => {
      if (stopped) return;
      stopped = true;
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', options.stopMode ?? 'fast', '-w', 'stop'], asPostgres);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
