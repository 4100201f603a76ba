/**
 * The write benchmark on the embedded database: a fresh in-memory PGlite per measurement.
 * reembed's path goes through openDatabase like the CLI does. COPY needs PGlite's own query
 * option `blob` (COPY … FROM '/dev/blob'), which the Database interface does not expose, so
 * that side opens PGlite directly, with the same extension, and applies reembed's schema to it
 * through a minimal adapter: the COPY goes into a store table made by ensureStore itself.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { Profile } from '../../src/config/profile.js';
import type { Database, Queryable } from '../../src/db/database.js';
import { runMigrations } from '../../src/db/migrations.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { ensureStore } from '../../src/store/store.js';
import type { StoredVector } from '../../src/store/write.js';
import { COPY_COLUMNS, copyChunks } from './copy-binary.js';
import { timed } from './measure.js';
import { verifyStore, writeInBatches } from './store-check.js';
import type { VectorSet } from './vectors.js';
import type { WriteBackend } from './write-backend.js';

function asDatabase(pg: PGlite): Database {
  const wrap = (conn: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params?: unknown[]) {
      const result = await conn.query<R>(sql, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql: string) {
      await conn.exec(sql);
    },
  });
  const base = wrap(pg);
  return {
    kind: 'pglite',
    target: 'memory://',
    ...base,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    session: (fn) => fn(base),
    close: () => pg.close(),
  };
}

async function versions(): Promise<{ server: string; pgvector: string }> {
  const db = await openDatabase('memory://');
  try {
    const { rows } = await db.query<{ server: string; pgvector: string }>(
      "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
    );
    return rows[0]!;
  } finally {
    await db.close();
  }
}

export async function openPgliteBackend(): Promise<WriteBackend> {
  return {
    name: 'pglite',
    description: 'PGlite, in memory, a fresh instance per measurement',
    versions: await versions(),

    async measureReembed(profile: Profile, rows: StoredVector[], set: VectorSet, batch: number): Promise<number> {
      const db = await openDatabase('memory://', { migrations });
      try {
        const { table } = await ensureStore(db, profile);
        const { seconds } = await timed(() => writeInBatches(db, profile, rows, batch));
        await verifyStore(db, table, set, profile.fingerprint);
        return seconds;
      } finally {
        await db.close();
      }
    },

    async measureCopy(profile: Profile, set: VectorSet): Promise<number> {
      const pg = await PGlite.create('memory://', { extensions: { vector } });
      const db = asDatabase(pg);
      try {
        await runMigrations(db, migrations);
        const { table } = await ensureStore(db, profile);
        const sql = `COPY ${table} ${COPY_COLUMNS} FROM '/dev/blob' WITH (FORMAT binary)`;
        // Encoding is on the clock: turning vectors into bytes is part of any write path.
        const { seconds, value } = await timed(() =>
          pg.query(sql, [], { blob: new Blob([...copyChunks(set, profile.fingerprint)]) }),
        );
        if (value.affectedRows !== set.ids.length) throw new Error(`COPY reported ${value.affectedRows} rows`);
        await verifyStore(db, table, set, profile.fingerprint);
        return seconds;
      } finally {
        await pg.close();
      }
    },

    close: async () => {},
  };
}
