/**
 * The write benchmark on the embedded database: a fresh in-memory PGlite per measurement,
 * opened through openDatabase like the CLI does. COPY goes through the same Database's
 * copyFrom (PGlite's `COPY … FROM '/dev/blob'`), into a store table made by ensureStore.
 */
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { ensureStore } from '../../src/store/store.js';
import type { StoredVector } from '../../src/store/write.js';
import { copySet } from './copy-binary.js';
import { createGuardedSource } from './guarded-source.js';
import { timed } from './measure.js';
import { verifyStore, writeGuardedInBatches, writeInBatches } from './store-check.js';
import { storedVectors, type VectorSet } from './vectors.js';
import type { WriteBackend } from './write-backend.js';

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

async function withFreshDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase('memory://', { migrations });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

export async function openPgliteBackend(): Promise<WriteBackend> {
  return {
    name: 'pglite',
    description: 'PGlite, in memory, a fresh instance per measurement',
    versions: await versions(),

    measureReembed: (profile: Profile, rows: StoredVector[], set: VectorSet, batch: number) =>
      withFreshDatabase(async (db) => {
        const { table } = await ensureStore(db, profile);
        const { seconds } = await timed(() => writeInBatches(db, profile, rows, batch));
        await verifyStore(db, table, set, profile.fingerprint);
        return seconds;
      }),

    measureGuarded: (profile: Profile, set: VectorSet, batch: number) =>
      withFreshDatabase(async (db) => {
        const { table } = await ensureStore(db, profile);
        const guarded = await createGuardedSource(db, profile, set);
        const rows = storedVectors(guarded.set);
        const { seconds } = await timed(() => writeGuardedInBatches(db, guarded.source, profile, rows, batch));
        await verifyStore(db, table, guarded.set, profile.fingerprint);
        return seconds;
      }),

    measureCopy: (profile: Profile, set: VectorSet, batch: number | null) =>
      withFreshDatabase(async (db) => {
        const { table } = await ensureStore(db, profile);
        // Encoding is on the clock: turning vectors into bytes is part of any write path.
        const { seconds } = await timed(() => copySet(db, table, set, profile.fingerprint, batch));
        await verifyStore(db, table, set, profile.fingerprint);
        return seconds;
      }),

    close: async () => {},
  };
}
