import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';

export const NAMESPACES_TABLE = schemaObject('profile_namespaces');

/**
 * EMBEDDING_NAMESPACE_MODE=isolated: which environment a profile's store belongs to. The first
 * isolated process to serve a profile claims it for its environment; processes of other
 * environments in isolated mode then refuse to serve it. (`shared` processes never claim.)
 */
export const namespaceMigrations: Migration[] = [
  {
    version: 20,
    name: 'profile namespaces',
    sql: `
      CREATE TABLE ${NAMESPACES_TABLE} (
        profile text PRIMARY KEY,
        environment text NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        claimed_by text NOT NULL
      );`,
  },
];

/** Claims the profile for the environment unless another has it; returns the environment that has it. */
export async function claimProfile(
  conn: Queryable,
  profile: string,
  environment: string,
  claimedBy: string,
): Promise<{ environment: string; claimedAt: string; claimedBy: string }> {
  await conn.query(
    `INSERT INTO ${NAMESPACES_TABLE} (profile, environment, claimed_by) VALUES ($1, $2, $3)
     ON CONFLICT (profile) DO NOTHING`,
    [profile, environment, claimedBy],
  );
  const { rows } = await conn.query<{ environment: string; claimed_at: Date | string; claimed_by: string }>(
    `SELECT environment, claimed_at, claimed_by FROM ${NAMESPACES_TABLE} WHERE profile = $1`,
    [profile],
  );
  const r = rows[0]!;
  return { environment: r.environment, claimedAt: new Date(r.claimed_at).toISOString(), claimedBy: r.claimed_by };
}

/** Gives a profile's claim up (`reembed profiles release`), so another environment may claim it. */
export async function releaseProfile(conn: Queryable, profile: string): Promise<string | null> {
  const { rows } = await conn.query<{ environment: string }>(
    `DELETE FROM ${NAMESPACES_TABLE} WHERE profile = $1 RETURNING environment`,
    [profile],
  );
  return rows[0]?.environment ?? null;
}
