import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { DatabaseError } from '../errors.js';
import { redactSecrets } from '../redact.js';
import { isBrokenConnectionError } from './transient.js';
import { quoteIdentifier } from './identifiers.js';
import { RENDERING_SETTINGS } from './sql.js';
import type { CopyPayload, Database, Queryable, QueryResult } from './database.js';
import { warnAndContinue } from '../logger.js';

async function copyOn(client: pg.PoolClient, target: string, payload: CopyPayload): Promise<number> {
  // Only bulk writes use COPY: loaded on the first one.
  const { from: copyStream } = await import('pg-copy-streams');
  const stream = client.query(copyStream(`COPY ${target} FROM STDIN WITH (FORMAT binary)`));
  // A server error ends the pipeline with it; pg-copy-streams leaves the connection ready for
  // the next statement (the caller's ROLLBACK, say). `[payload]` because Readable.from would
  // iterate a bare Uint8Array byte by byte.
  await pipeline(Readable.from(payload instanceof Uint8Array ? [payload] : payload), stream);
  return stream.rowCount;
}

function wrap(client: pg.PoolClient | pg.Pool): Queryable {
  return {
    async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
      const result = await client.query(sql, params);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
    async copyFrom(target: string, payload: CopyPayload): Promise<number> {
      // COPY needs one connection for the whole stream: the pinned one, or one from the pool.
      if (!(client instanceof pg.Pool)) return copyOn(client, target, payload);
      const pinned = await client.connect();
      try {
        return await copyOn(pinned, target, payload);
      } finally {
        pinned.release();
      }
    },
  };
}

/** Removes the password (and any secret query parameter) from a connection string so it can be printed. */
export function redactUrl(url: string): string {
  return redactSecrets(url);
}

/** A PostgreSQL server through a node-postgres pool; many processes may share it. */
export async function openPostgres(url: string, options: { max?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: 'reembed',
    // Startup parameters: set on every connection before any query runs.
    options: Object.entries(RENDERING_SETTINGS)
      .map(([k, v]) => `-c ${k}=${v.replaceAll(' ', '\\ ')}`)
      .join(' '),
  });
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
    await pool.end().catch(warnAndContinue('closing the pool of a server that failed its checks'));
    const message = (error as Error).message ?? String(error);
    const hint = /extension "vector" is not available|could not open extension control file/.test(message)
      ? ' (pgvector is not installed on the server; see scripts/setup-postgres.sh)'
      : /permission denied to create extension/.test(message)
        ? ' (ask an administrator to run CREATE EXTENSION vector once in this database)'
        : '';
    throw new DatabaseError(`cannot open ${target}: ${redactSecrets(message)}${hint}`, error);
  }

  const session = async <T>(fn: (conn: Queryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    // A checked-out client whose connection drops between two queries (a server restart, a
    // terminated backend) emits 'error': without a listener that would crash the process. The
    // next query fails instead, and the broken client is destroyed rather than pooled again.
    let broken = false;
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      return await fn(wrap(client));
    } catch (error) {
      if (isBrokenConnectionError(error)) broken = true;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  };
  const base = wrap(pool);
  return {
    kind: 'postgres',
    target,
    query: base.query,
    exec: base.exec,
    copyFrom: base.copyFrom,
    session,
    transaction: (fn) =>
      session(async (conn) => {
        await conn.exec('BEGIN');
        try {
          const result = await fn(conn);
          await conn.exec('COMMIT');
          return result;
        } catch (error) {
          await conn.exec('ROLLBACK').catch(warnAndContinue('rolling back a failed transaction'));
          throw error;
        }
      }),
    listen: (channel, onNotify) => listen(url, channel, onNotify),
    close: () => pool.end(),
  };
}

/**
 * LISTEN on a connection of its own (a pooled one would be handed to other queries). A
 * dropped connection is reopened after a second; notifications sent while it was down are
 * lost, which is why the callers that depend on them also poll.
 */
async function listen(url: string, channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  // After a drop, reconnect until it works (1 s, doubling to 30 s): a server that is down for
  // a while would otherwise leave the instance with its poll alone for good.
  const reopen = (attempt: number): void => {
    if (stopped) return;
    retry = setTimeout(
      () =>
        void connect().catch((error: unknown) => {
          warnAndContinue('reopening a dropped LISTEN connection', { channel, attempt })(error);
          reopen(attempt + 1);
        }),
      Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)),
    );
    retry.unref();
  };
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, application_name: 'reembed-listen' });
    let dropped = false;
    let connected = false;
    const drop = (): boolean => {
      if (dropped) return false;
      dropped = true;
      if (client === c) client = undefined;
      c.end().catch(warnAndContinue('closing a dropped LISTEN connection', { channel }));
      return true;
    };
    c.on('notification', (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    });
    c.on('error', () => {
      if (!stopped && drop() && client === undefined && connected) reopen(0);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${quoteIdentifier(channel, 'channel')}`);
    } catch (error) {
      drop();
      throw error;
    }
    connected = true;
    if (stopped) {
      drop();
      return;
    }
    client = c;
  };
  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await client?.end().catch(warnAndContinue('closing the LISTEN connection', { channel }));
  };
}
