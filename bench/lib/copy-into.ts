/**
 * Binary COPY of a whole vector set into an existing store table: the ceiling the backfill
 * benchmark compares against. PostgreSQL takes it as one COPY … FROM STDIN stream through
 * pg-copy-streams. PGlite takes it from its `/dev/blob` device, which only PGlite's own query
 * option `blob` fills, so that side needs a PGlite opened directly (the Database interface does
 * not expose it); the blob is sent in slices of `blobRows` rows, because one 100,000-row
 * 1536-dim blob (625 MB) would sit in WebAssembly memory beside the table it fills.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database, Queryable } from '../../src/db/database.js';
import { COPY_COLUMNS, copyChunks, copyHeader, copyTrailer, encodeRows } from './copy-binary.js';
import type { VectorSet } from './vectors.js';

export async function copyIntoPostgres(
  client: pg.Client,
  table: string,
  set: VectorSet,
  fingerprint: string,
): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} ${COPY_COLUMNS} FROM STDIN WITH (FORMAT binary)`));
  // Encoding is on the clock, chunk by chunk as the stream asks for more.
  await pipeline(Readable.from(copyChunks(set, fingerprint)), stream);
  if (stream.rowCount !== set.ids.length)
    throw new Error(`COPY reported ${stream.rowCount} rows, expected ${set.ids.length}`);
}

export async function copyIntoPglite(
  pglite: PGlite,
  table: string,
  set: VectorSet,
  fingerprint: string,
  blobRows = 10_000,
): Promise<void> {
  const sql = `COPY ${table} ${COPY_COLUMNS} FROM '/dev/blob' WITH (FORMAT binary)`;
  let copied = 0;
  for (let start = 0; start < set.ids.length; start += blobRows) {
    const end = Math.min(set.ids.length, start + blobRows);
    const parts: Buffer[] = [copyHeader()];
    for (let i = start; i < end; i += 500) parts.push(encodeRows(set, i, Math.min(end, i + 500), fingerprint));
    parts.push(copyTrailer());
    const result = await pglite.query(sql, [], { blob: new Blob(parts) });
    copied += result.affectedRows ?? 0;
  }
  if (copied !== set.ids.length) throw new Error(`COPY reported ${copied} rows, expected ${set.ids.length}`);
}

/**
 * An in-memory PGlite with pgvector, opened directly, and a Database over it that behaves like
 * src/db/pglite.ts (PGlite serializes queries itself; a session is the database), so reembed's
 * own migrations, ensureStore and countCoverage run on it unchanged.
 */
export async function openRawPglite(): Promise<{ pglite: PGlite; db: Database }> {
  const pglite = await PGlite.create('memory://', { extensions: { vector } });
  await pglite.exec('CREATE EXTENSION IF NOT EXISTS vector');
  // `as`: the bench needs only these members, whatever else the interfaces gain.
  const wrap = (conn: Pick<PGlite, 'query' | 'exec'>) =>
    ({
      async query<R>(sql: string, params?: unknown[]) {
        const result = await conn.query<R>(sql, params);
        return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
      },
      async exec(sql: string) {
        await conn.exec(sql);
      },
    }) as Queryable;
  const base = wrap(pglite);
  const db = {
    kind: 'pglite',
    target: 'memory://',
    query: base.query,
    exec: base.exec,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => pglite.transaction((tx) => fn(wrap(tx))),
    session: <T>(fn: (conn: Queryable) => Promise<T>) => fn(base),
    close: () => pglite.close(),
  } as Database;
  return { pglite, db };
}
