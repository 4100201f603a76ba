import { resolve } from 'node:path';
import type { Database } from './database.js';
import { runMigrations, type Migration } from './migrations.js';
import { warnAndContinue } from '../logger.js';

export const DEFAULT_DATA_DIR = '.reembed';

export interface DatabaseTargetInput {
  /** The --db flag. */
  flag?: string;
  /** The manifest's `database:` key. */
  manifest?: string;
  env?: NodeJS.ProcessEnv;
}

/** --db beats REEMBED_DATABASE_URL beats the manifest beats .reembed/ in the working directory. */
export function resolveDatabaseTarget(input: DatabaseTargetInput = {}): string {
  const env = input.env ?? process.env;
  return input.flag || env.REEMBED_DATABASE_URL || input.manifest || DEFAULT_DATA_DIR;
}

export function isServerUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/**
 * Opens a database from a target string: postgres://… for a server, memory:// for a
 * throwaway embedded database, anything else is a data directory for the embedded one.
 * With `migrations`, brings the reembed schema up to date before returning.
 */
export async function openDatabase(target: string, options: { migrations?: Migration[] } = {}): Promise<Database> {
  // Each driver is loaded only when used: a command against a server never loads PGlite (and its
  // WebAssembly build), an embedded one never loads node-postgres.
  const db = isServerUrl(target)
    ? await (await import('./postgres.js')).openPostgres(target)
    : await (await import('./pglite.js')).openPglite(target === 'memory://' ? null : resolve(target));
  if (options.migrations) {
    try {
      await runMigrations(db, options.migrations);
    } catch (error) {
      await db
        .close()
        .catch(warnAndContinue('closing a database whose schema migrations failed', { target: db.target }));
      throw error;
    }
  }
  return db;
}
