import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import type { Source } from '../source/source.js';
import { buildIndex, indexStatus } from '../store/index.js';
import { storeLayout } from '../store/store.js';
import { countCoverage } from './coverage.js';
import { CHUNKS_TABLE } from './tables.js';

export type IndexEvent =
  | { profile: string; phase: 'building' }
  | { profile: string; phase: 'built'; index: string; seconds: number }
  | { profile: string; phase: 'failed'; error: unknown };

/** What a check found: the index is there (or not needed), not yet due, or another process builds it. */
export type IndexCheck = 'indexed' | 'not-complete' | 'busy';

/**
 * Builds the profile's HNSW index once its backfill is complete (every planned chunk done and
 * coverage 100%, counted), as `reembed backfill` does at the end of its own run, so stores
 * backfilled by `reembed worker` processes alone end up indexed too. One process builds it (a
 * session advisory lock; the others say 'busy' and look again later); on a server it is built
 * CONCURRENTLY, so searches and writes go on meanwhile.
 */
export async function indexWhenComplete(
  db: Database,
  source: Source,
  profile: Profile,
  onEvent?: (event: IndexEvent) => void,
): Promise<IndexCheck> {
  if (storeLayout(profile).index === 'exact') return 'indexed';
  if ((await indexStatus(db, profile)).valid) return 'indexed';
  const { rows } = await db.query<{ planned: string | number; open: string | number }>(
    `SELECT count(*) AS planned, count(*) FILTER (WHERE NOT done) AS open FROM ${CHUNKS_TABLE} WHERE profile = $1`,
    [profile.name],
  );
  if (Number(rows[0]!.planned) === 0 || Number(rows[0]!.open) > 0) return 'not-complete';
  if ((await countCoverage(db, source, profile)).ratio < 1) return 'not-complete';
  // Workers of one process share a session on the embedded database, where an advisory lock
  // would not keep them apart: they are kept apart here first.
  let building = BUILDING.get(db);
  if (!building) BUILDING.set(db, (building = new Set()));
  if (building.has(profile.name)) return 'busy';
  building.add(profile.name);
  try {
    return await buildOnce(db, profile, onEvent);
  } finally {
    building.delete(profile.name);
  }
}

/** Profiles whose index a check of this process is building, per database. */
const BUILDING = new WeakMap<Database, Set<string>>();

async function buildOnce(db: Database, profile: Profile, onEvent?: (event: IndexEvent) => void): Promise<IndexCheck> {
  return db.session(async (conn) => {
    const key = `reembed.index.${profile.name}`;
    const { rows: lock } = await conn.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
      [key],
    );
    if (!lock[0]!.locked) return 'busy';
    try {
      // Another process may have built it between the first look and the lock.
      if ((await indexStatus(db, profile)).valid) return 'indexed';
      onEvent?.({ profile: profile.name, phase: 'building' });
      const built = await buildIndex(db, profile);
      onEvent?.({ profile: profile.name, phase: 'built', index: built.index ?? '', seconds: built.seconds });
      return 'indexed';
    } catch (error) {
      onEvent?.({ profile: profile.name, phase: 'failed', error });
      return 'busy';
    } finally {
      await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
    }
  });
}
