import type { Queryable } from '../db/database.js';
import { PROFILES_TABLE } from './store.js';

/**
 * The profile registry (`reembed.profiles`): which profiles have a store, under which
 * fingerprint, and which of them capture changes. Its queries live here, beside the table.
 */

/** Every registered profile with its capture flag, by name. */
export async function registeredProfiles(conn: Queryable): Promise<Array<{ name: string; capture: boolean }>> {
  const { rows } = await conn.query<{ name: string; capture: boolean }>(
    `SELECT name, capture FROM ${PROFILES_TABLE} ORDER BY name`,
  );
  return rows;
}

/** The names of the profiles whose capture is on, by name. */
export async function capturingProfiles(conn: Queryable): Promise<string[]> {
  const { rows } = await conn.query<{ name: string }>(`SELECT name FROM ${PROFILES_TABLE} WHERE capture ORDER BY name`);
  return rows.map((r) => r.name);
}

/** Turns one profile's capture flag on or off (the triggers are the caller's business). */
export async function setProfileCapture(conn: Queryable, name: string, on: boolean): Promise<void> {
  await conn.query(`UPDATE ${PROFILES_TABLE} SET capture = $2 WHERE name = $1`, [name, on]);
}

/** Turns every profile's capture flag off (detach). */
export async function stopAllCapture(conn: Queryable): Promise<void> {
  await conn.query(`UPDATE ${PROFILES_TABLE} SET capture = false`);
}

/** The fingerprint a profile's store was created with, and whether its table is there (null: never registered). */
export async function registeredFingerprint(
  conn: Queryable,
  name: string,
): Promise<{ fingerprint: string; present: boolean } | null> {
  const { rows } = await conn.query<{ fingerprint: string; present: boolean }>(
    `SELECT fingerprint, to_regclass(store_table) IS NOT NULL AS present FROM ${PROFILES_TABLE} WHERE name = $1`,
    [name],
  );
  return rows[0] ?? null;
}

/** Forgets a profile whose store was dropped (cleanup). */
export async function unregisterProfile(conn: Queryable, name: string): Promise<void> {
  await conn.query(`DELETE FROM ${PROFILES_TABLE} WHERE name = $1`, [name]);
}
