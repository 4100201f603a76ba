import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { DatabaseError } from '../errors.js';
import type { CopyPayload, Database, Queryable, QueryResult } from './database.js';
import { RENDERING_SETTINGS } from './sql.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';

/**
 * Owner-only, whatever the umask: the directory 0700 (which alone keeps others out) and its
 * files 0600, at open and again at close for the files PGlite wrote in between.
 */
function restrictPermissions(dir: string): void {
  const walk = (path: string, isDir: boolean): void => {
    chmodSync(path, isDir ? 0o700 : 0o600);
    if (!isDir) return;
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isSymbolicLink()) continue;
      walk(join(path, entry.name), entry.isDirectory());
    }
  };
  if (lstatSync(dir).isDirectory()) walk(dir, true);
}

function wrap(conn: PGlite | Transaction): Queryable {
  return {
    async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
      const result = await conn.query<R>(sql, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await conn.exec(sql);
    },
    async copyFrom(target: string, payload: CopyPayload): Promise<number> {
      // PGlite has no COPY protocol stream: it hands the `blob` option to the server as the
      // file /dev/blob.
      const blob = new Blob(payload instanceof Uint8Array ? [payload] : [...payload]);
      const result = await conn.query(`COPY ${target} FROM '/dev/blob' WITH (FORMAT binary)`, [], { blob });
      return result.affectedRows ?? 0;
    },
  };
}

/**
 * The embedded default: PostgreSQL compiled to WebAssembly, in a data directory, with pgvector.
 * One process at a time may open a directory, and a lock file enforces it (a second opener gets
 * DatabaseLockedError); PGlite serializes queries itself, so `session` is simply the database.
 */
export async function openPglite(dataDir: string | null): Promise<Database> {
  let pg: PGlite;
  let lock: DataDirLock | null = null;
  if (dataDir) {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      chmodSync(dataDir, 0o700);
    } catch (error) {
      throw new DatabaseError(
        `cannot create the embedded database directory ${dataDir}: ${(error as Error).message}`,
        error,
      );
    }
    lock = lockDataDir(dataDir);
  }
  try {
    pg = await PGlite.create(dataDir ?? 'memory://', { extensions: { vector } });
    if (dataDir) restrictPermissions(dataDir);
    await pg.exec('CREATE EXTENSION IF NOT EXISTS vector');
    for (const [name, value] of Object.entries(RENDERING_SETTINGS))
      await pg.query('SELECT set_config($1, $2, false)', [name, value]);
  } catch (error) {
    lock?.release();
    throw new DatabaseError(
      `cannot open the embedded database${dataDir ? ` in ${dataDir}` : ''}: ${(error as Error).message ?? String(error)}`,
      error,
    );
  }
  let closing: Promise<void> | undefined;
  const base = wrap(pg);
  return {
    kind: 'pglite',
    target: dataDir ?? 'memory://',
    query: base.query,
    exec: base.exec,
    copyFrom: base.copyFrom,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    session: (fn) => fn(base),
    listen: async (channel, onNotify) => {
      const unlisten = await pg.listen(channel, onNotify);
      return async () => {
        await unlisten();
      };
    },
    // A second close() is a no-op that waits for the first.
    close: () =>
      (closing ??= (async () => {
        try {
          await pg.close();
          if (dataDir) restrictPermissions(dataDir);
        } finally {
          lock?.release();
        }
      })()),
  };
}
