/**
 * The write benchmark on a PostgreSQL server: one scratch database for the run; each
 * measurement gets a fresh store table from ensureStore and drops it afterwards. Every path
 * goes through openDatabase (a node-postgres pool): reembed's writes, and COPY through the
 * Database's copyFrom (pg-copy-streams, COPY … FROM STDIN), into a store table made by the same
 * ensureStore, so all write into exactly the same table definition (primary key, CHECK,
 * default) and pay the same index work.
 */
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { PROFILES_TABLE, ensureStore } from '../../src/store/store.js';
import type { StoredVector } from '../../src/store/write.js';
import { copySet } from './copy-binary.js';
import { createGuardedSource, dropGuardedSource } from './guarded-source.js';
import { timed } from './measure.js';
import { createScratchDatabase, startBenchServer } from './postgres-cluster.js';
import { verifyStore, writeGuardedInBatches, writeInBatches } from './store-check.js';
import { storedVectors, type VectorSet } from './vectors.js';
import type { WriteBackend } from './write-backend.js';

/**
 * Creates the profile's store and what `prepare` adds, runs a CHECKPOINT (so dirty pages from
 * the previous measurement are not flushed on this one's clock), measures `write`, verifies,
 * and drops the store again.
 */
async function measureInFreshStore<P>(
  db: Database,
  profile: Profile,
  prepare: () => Promise<P & { set: VectorSet }>,
  write: (table: string, prepared: P) => Promise<void>,
): Promise<number> {
  const { table } = await ensureStore(db, profile);
  try {
    const prepared = await prepare();
    // CHECKPOINT needs superuser or pg_checkpoint; without it the figures are just noisier.
    await db.exec('CHECKPOINT').catch(() => {});
    const { seconds } = await timed(() => write(table, prepared));
    await verifyStore(db, table, prepared.set, profile.fingerprint);
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
    const { rows } = await db.query<{ server: string; pgvector: string }>(
      "SELECT current_setting('server_version') AS server, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
    );

    return {
      name: 'postgres',
      description: `PostgreSQL (${server.origin}), fsync on, a fresh store table per measurement`,
      versions: rows[0]!,

      measureReembed: (profile: Profile, vectors: StoredVector[], set: VectorSet, batch: number) =>
        measureInFreshStore(
          db,
          profile,
          async () => ({ set }),
          () => writeInBatches(db, profile, vectors, batch),
        ),

      measureGuarded: async (profile: Profile, set: VectorSet, batch: number) => {
        try {
          return await measureInFreshStore(
            db,
            profile,
            async () => {
              const guarded = await createGuardedSource(db, profile, set);
              return { ...guarded, rows: storedVectors(guarded.set) };
            },
            (_table, guarded) => writeGuardedInBatches(db, guarded.source, profile, guarded.rows, batch),
          );
        } finally {
          await dropGuardedSource(db);
        }
      },

      measureCopy: (profile: Profile, set: VectorSet, batch: number | null) =>
        measureInFreshStore(
          db,
          profile,
          async () => ({ set }),
          // Encoding is on the clock, chunk by chunk as the stream asks for more.
          (table) => copySet(db, table, set, profile.fingerprint, batch),
        ),

      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
