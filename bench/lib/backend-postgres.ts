/**
 * The write benchmark on a PostgreSQL server: one scratch database for the run; each
 * measurement gets a fresh store table from ensureStore and drops it afterwards. reembed's
 * path goes through openDatabase (a node-postgres pool); COPY goes through a separate client
 * with pg-copy-streams, into a store table made by the same ensureStore, so both write into
 * exactly the same table definition (primary key, CHECK, default) and pay the same index work.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { PROFILES_TABLE, ensureStore } from '../../src/store/store.js';
import type { StoredVector } from '../../src/store/write.js';
import { COPY_COLUMNS, copyChunks } from './copy-binary.js';
import { timed } from './measure.js';
import { createScratchDatabase, startBenchServer } from './postgres-cluster.js';
import { verifyStore, writeInBatches } from './store-check.js';
import type { VectorSet } from './vectors.js';
import type { WriteBackend } from './write-backend.js';

/**
 * Creates the profile's store, runs a CHECKPOINT (so dirty pages from the previous measurement
 * are not flushed on this one's clock), measures `write`, verifies, and drops the store again.
 */
async function measureInFreshStore(
  db: Database,
  profile: Profile,
  set: VectorSet,
  write: (table: string) => Promise<void>,
): Promise<number> {
  const { table } = await ensureStore(db, profile);
  try {
    // CHECKPOINT needs superuser or pg_checkpoint; without it the figures are just noisier.
    await db.exec('CHECKPOINT').catch(() => {});
    const { seconds } = await timed(() => write(table));
    await verifyStore(db, table, set, profile.fingerprint);
    return seconds;
  } finally {
    await db.exec(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`DELETE FROM ${PROFILES_TABLE} WHERE name = $1`, [profile.name]);
  }
}

export async function openPostgresBackend(): Promise<WriteBackend> {
  const server = await startBenchServer();
  // Undone in reverse order on close, or as far as they got if opening fails half-way.
  const opened: Array<() => unknown> = [() => server.stop()];
  const close = async () => {
    for (const undo of opened.reverse())
      await Promise.resolve()
        .then(undo)
        .catch(() => {});
  };
  try {
    const scratch = await createScratchDatabase(server.adminUrl);
    opened.push(() => scratch.drop());
    const db = await openDatabase(scratch.url, { migrations });
    opened.push(() => db.close());
    const client = new pg.Client({ connectionString: scratch.url, application_name: 'reembed-bench-copy' });
    await client.connect();
    opened.push(() => client.end());
    const { rows } = await db.query<{ server: string; pgvector: string }>(
      "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
    );

    return {
      name: 'postgres',
      description: `PostgreSQL (${server.origin}), fsync on, a fresh store table per measurement`,
      versions: rows[0]!,

      measureReembed: (profile: Profile, vectors: StoredVector[], set: VectorSet, batch: number) =>
        measureInFreshStore(db, profile, set, () => writeInBatches(db, profile, vectors, batch)),

      measureCopy: (profile: Profile, set: VectorSet) =>
        measureInFreshStore(db, profile, set, async (table) => {
          const stream = client.query(copyFrom(`COPY ${table} ${COPY_COLUMNS} FROM STDIN WITH (FORMAT binary)`));
          // Encoding is on the clock, chunk by chunk as the stream asks for more.
          await pipeline(Readable.from(copyChunks(set, profile.fingerprint)), stream);
          if (stream.rowCount !== set.ids.length) throw new Error(`COPY reported ${stream.rowCount} rows`);
        }),

      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
