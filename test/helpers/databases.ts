/**
 * Opens fresh databases of both kinds for a test file: an in-memory PGlite, and a new database
 * on the run's PostgreSQL server (created here, dropped on close), so no test sees another's
 * state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';

export const BACKENDS = ['pglite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

export function postgresAdminUrl(): string {
  return inject('postgresUrl');
}

/** Creates an empty database on the test server and returns its URL and a drop function. */
export async function createServerDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = postgresAdminUrl();
  const name = `reembed_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A fresh database of the given kind; `migrate` (default true) applies reembed's schema. */
export async function openTestDatabase(backend: Backend, options: { migrate?: boolean } = {}): Promise<Database> {
  const migrate = options.migrate ?? true;
  if (backend === 'pglite') return openDatabase('memory://', migrate ? { migrations } : {});
  const server = await createServerDatabase();
  const db = await openDatabase(server.url, migrate ? { migrations } : {});
  const close = db.close.bind(db);
  return Object.assign(db, {
    close: async () => {
      await close();
      await server.drop();
    },
  });
}

/**
 * A project directory with `manifest` as its reembed.yaml, and a database target of the kind
 * for `open()`: a PGlite directory in it, or a new database on the test server (`drop` removes it).
 */
export async function manifestProject(
  backend: Backend,
  manifest: string,
): Promise<{ dir: string; config: string; target: string; drop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `reembed-${backend}-`));
  const config = join(dir, 'reembed.yaml');
  writeFileSync(config, manifest);
  if (backend === 'pglite') return { dir, config, target: join(dir, 'db'), drop: async () => {} };
  const server = await createServerDatabase();
  return { dir, config, target: server.url, drop: server.drop };
}
