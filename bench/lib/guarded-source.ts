/**
 * What writeIfCurrent needs to write anything: a source table holding every row of the set,
 * and content hashes that match it. The table has the set's ids and a body of about 500
 * characters per row (the size of a typical abstract), and the hashes are computed in SQL by
 * the same expression the workers and capture triggers use, so the guard passes for every
 * row while still rendering and hashing each row's text, as it does in a backfill.
 */
import { buildManifest, getProfile, type Manifest } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { contentHashSql } from '../../src/source/render.js';
import { resolveSource, type Source } from '../../src/source/source.js';
import type { VectorSet } from './vectors.js';

const SOURCE_TABLE = 'public.bench_source';
const FILLER =
  'Embedding models map text to vectors whose distances reflect meaning; moving a live search system from one ' +
  'model to another means re-embedding every document while the old vectors keep serving. ';

function guardedManifest(name: string, dims: number): Manifest {
  return buildManifest(
    { source: { table: SOURCE_TABLE, id: 'id', text: '{body}' }, profiles: { [name]: { provider: 'hash', dims } } },
    null,
  );
}

/** A profile that embeds the benchmark's source table. */
export function guardedProfile(name: string, dims: number): Profile {
  return getProfile(guardedManifest(name, dims), name);
}

/** Creates the source table for the set and returns it with the set's hashes replaced by the real ones. */
export async function createGuardedSource(
  db: Database,
  profile: Profile,
  set: VectorSet,
): Promise<{ source: Source; set: VectorSet }> {
  await db.exec(
    `DROP TABLE IF EXISTS ${SOURCE_TABLE}; CREATE TABLE ${SOURCE_TABLE} (id text PRIMARY KEY, body text NOT NULL)`,
  );
  await db.query(`INSERT INTO ${SOURCE_TABLE} (id, body) SELECT * FROM unnest($1::text[], $2::text[])`, [
    set.ids,
    set.ids.map((id) => `${id}: ${FILLER}${FILLER}${FILLER}`.slice(0, 500)),
  ]);
  await db.exec(`ANALYZE ${SOURCE_TABLE}`);
  const source = await resolveSource(db, guardedManifest(profile.name, profile.dims).source, [profile.template!]);
  const { rows } = await db.query<{ id: string; hash: string }>(
    `SELECT s.id, ${contentHashSql(profile.template!, profile.fingerprint, 's')} AS hash FROM ${SOURCE_TABLE} s`,
  );
  const hashById = new Map(rows.map((r) => [r.id, r.hash]));
  return { source, set: { ...set, hashes: set.ids.map((id) => hashById.get(id)!) } };
}

export async function dropGuardedSource(db: Database): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${SOURCE_TABLE}`);
}
