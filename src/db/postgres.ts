import pg from 'pg';
import { DatabaseError } from '../errors.js';
import type { Database, Queryable, QueryResult } from './database.js';

function wrap(client: pg.PoolClient | pg.Pool): Queryable {
  return {
    async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
      const result = await client.query(sql, params);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
  };
}

/** Removes the password from a connection string so it can be printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** A PostgreSQL server through a node-postgres pool; many processes may share it. */
export async function openPostgres(url: string, options: { max?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, application_name: 'reembed' });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The next query reports the problem instead.
  pool.on('error', () => {});
  const target = redactUrl(url);
  try {
    const client = await pool.connect();
    try {
      // Only check here; the extension is created under the migration lock, since two
      // processes running CREATE EXTENSION IF NOT EXISTS at once can both try to insert it.
      const { rows } = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'");
      if (rows.length === 0) throw new Error('extension "vector" is not available');
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    const message = (error as Error).message ?? String(error);
    const hint = /extension "vector" is not available|could not open extension control file/.test(message)
      ? ' (pgvector is not installed on the server; see scripts/setup-postgres.sh)'
      : /permission denied to create extension/.test(message)
        ? ' (ask an administrator to run CREATE EXTENSION vector once in this database)'
        : '';
    throw new DatabaseError(`cannot open ${target}: ${message}${hint}`, error);
  }

  const session = async <T>(fn: (conn: Queryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(wrap(client));
    } finally {
      client.release();
    }
  };
  const base = wrap(pool);
  return {
    kind: 'postgres',
    target,
    query: base.query,
    exec: base.exec,
    session,
    transaction: (fn) =>
      session(async (conn) => {
        await conn.exec('BEGIN');
        try {
          const result = await fn(conn);
          await conn.exec('COMMIT');
          return result;
        } catch (error) {
          await conn.exec('ROLLBACK').catch(() => {});
          throw error;
        }
      }),
    close: () => pool.end(),
  };
}
