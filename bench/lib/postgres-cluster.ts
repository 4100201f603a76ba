/**
 * The PostgreSQL server the write benchmark uses: REEMBED_BENCH_DATABASE_URL if set, else a
 * throwaway cluster started like the test suite's (test/helpers/postgres-server.ts: initdb in a
 * temporary directory, as the `postgres` user when running as root, on a free port), with one
 * difference that matters here: durability stays on. The test cluster turns fsync and
 * full_page_writes off, which would make a write benchmark measure nothing real.
 *
 * Starting and stopping are shared with the test suite (test/helpers/pg-cluster.ts).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { checkInstalled, startCluster } from '../../test/helpers/pg-cluster.js';

const PG_BIN = process.env.REEMBED_BENCH_PG_BIN ?? process.env.REEMBED_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface BenchServer {
  /** A URL on which the bench may create and drop a database. */
  adminUrl: string;
  origin: 'REEMBED_BENCH_DATABASE_URL' | 'throwaway cluster';
  stop(): void;
}

export async function startBenchServer(): Promise<BenchServer> {
  const external = process.env.REEMBED_BENCH_DATABASE_URL;
  if (external) return { adminUrl: external, origin: 'REEMBED_BENCH_DATABASE_URL', stop: () => {} };
  checkInstalled(
    'The benchmarks need PostgreSQL with pgvector: run `bash scripts/setup-postgres.sh` (as root), ' +
      'set REEMBED_BENCH_DATABASE_URL, or leave postgres out with REEMBED_BENCH_BACKENDS=pglite.',
    PG_BIN,
  );
  // Durability stays on (unlike the test cluster): a write benchmark must measure real writes.
  const cluster = await startCluster({ serverOptions: ['-c shared_buffers=256MB'], stopMode: 'fast', bin: PG_BIN });
  const onSignal = (signal: NodeJS.Signals) => {
    cluster.stop();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { adminUrl: cluster.url, origin: 'throwaway cluster', stop: cluster.stop };
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
