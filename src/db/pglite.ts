import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { DatabaseError } from '../errors.js';
import type { CopyPayload, Database, Queryable, QueryResult } from './database.js';
import { RENDERING_SETTINGS } from './sql.js';

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
 * One process at a time may open a directory; PGlite serializes queries itself, so `session`
 * is simply the database.
 */
export async function openPglite(dataDir: string | null): Promise<Database> {
  let pg: PGlite;
  try {
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    pg = await PGlite.create(dataDir ?? 'memory://', { extensions: { vector } });
    await pg.exec('CREATE EXTENSION IF NOT EXISTS vector');
    for (const [name, value] of Object.entries(RENDERING_SETTINGS))
      await pg.query('SELECT set_config($1, $2, false)', [name, value]);
  } catch (error) {
    throw new DatabaseError(
      `cannot open the embedded database${dataDir ? ` in ${dataDir}` : ''}: ${(error as Error).message ?? String(error)}` +
        ' (another reembed process may be using it; the embedded database allows one process at a time)',
      error,
    );
  }
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
    close: () => pg.close(),
  };
}
