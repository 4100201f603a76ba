/**
 * Vitest global setup: a throwaway PostgreSQL 15 + pgvector cluster for the whole run, in a
 * temporary directory on a free port, stopped and deleted afterwards. Nothing depends on state
 * from an earlier run. REEMBED_TEST_DATABASE_URL points the suite at an existing server instead
 * (each test file still creates and drops its own database there).
 *
 * There is no skip: when the server cannot start, the run fails and says how to set it up.
 */
import type { TestProject } from 'vitest/node';
import type {} from 'vitest';
import { checkInstalled, startCluster } from './pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.REEMBED_TEST_DATABASE_URL;
  if (external) {
    project.provide('postgresUrl', external);
    return async () => {};
  }
  checkInstalled(
    'The test suite needs PostgreSQL 15 with pgvector: run `bash scripts/setup-postgres.sh` (as root), ' +
      'or set REEMBED_TEST_DATABASE_URL to a server with pgvector.',
  );
  // Durability off: the suite tests behaviour, not crash recovery of PostgreSQL itself.
  const cluster = await startCluster({
    serverOptions: [
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
      '-c shared_buffers=256MB',
    ],
    stopMode: 'immediate',
  });
  project.provide('postgresUrl', cluster.url);
  return async () => cluster.stop();
}
