import type { IndexType, Metric, Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { SCHEMA, qualify, quoteIdentifier, schemaObject, type SqlIdent } from '../db/identifiers.js';
import { quoteLiteral } from '../db/sql.js';
import { ReembedError } from '../errors.js';

export const PROFILES_TABLE = schemaObject('profiles');

export const storeMigrations: Migration[] = [
  {
    version: 1,
    name: 'profile registry',
    sql: `
      CREATE TABLE ${PROFILES_TABLE} (
        name text PRIMARY KEY,
        fingerprint text NOT NULL,
        dims integer NOT NULL,
        metric text NOT NULL,
        store_table text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
];

/** pgvector's HNSW limits: `vector` up to 2,000 dims, `halfvec` up to 4,000. */
export const HNSW_MAX_VECTOR_DIMS = 2000;
export const HNSW_MAX_HALFVEC_DIMS = 4000;

export interface StoreLayout {
  table: SqlIdent;
  /** `vector` or `halfvec` (halfvec keeps profiles of 2,001-4,000 dims indexable). */
  columnType: 'vector' | 'halfvec';
  /** How searches run: through the profile's index kind (HNSW by default), or exactly (over 4,000 dims). */
  index: IndexType | 'exact';
  distanceOperator: string;
  opclass: string;
}

const OPERATORS: Record<Metric, string> = { cosine: '<=>', l2: '<->', ip: '<#>' };
const OPCLASS_SUFFIX: Record<Metric, string> = { cosine: 'cosine_ops', l2: 'l2_ops', ip: 'ip_ops' };

/**
 * Store rows stay in the table's own pages up to this size (about 2,000 float4 or 4,000 float16
 * dims) instead of going out of line past the default 2 KB (about 500 dims): every exact search
 * reads every vector, and fetching each one from the TOAST table by index cost more than the
 * distance. On PGlite, exact search over 2,400 × 1,024 dims ran 2–4× faster inline; a bulk
 * write skips the TOAST table and its index. Applies to stores created from now on.
 */
const INLINE_ROW_BYTES = 8160;

export function storeLayout(
  profile: Pick<Profile, 'name' | 'dims' | 'metric'> & Partial<Pick<Profile, 'index'>>,
): StoreLayout {
  const columnType = profile.dims > HNSW_MAX_VECTOR_DIMS ? 'halfvec' : 'vector';
  return {
    table: qualify(SCHEMA, quoteIdentifier(`emb_${profile.name}`, 'store table')),
    columnType,
    // IVFFlat has the same limits as HNSW.
    index: profile.dims > HNSW_MAX_HALFVEC_DIMS ? 'exact' : (profile.index?.type ?? 'hnsw'),
    distanceOperator: OPERATORS[profile.metric],
    opclass: `${columnType}_${OPCLASS_SUFFIX[profile.metric]}`,
  };
}

/** A profile's stored configuration differs from the manifest's: its vectors must not mix. */
export class FingerprintMismatchError extends ReembedError {
  constructor(profile: string, stored: string, configured: string) {
    super(
      'FINGERPRINT_MISMATCH',
      `profile ${profile} changed since its store was created (fingerprint ${stored} in the database, ${configured} in the manifest): ` +
        'vectors of different fingerprints never mix, so give the changed configuration a new profile name and migrate to it',
      { exitCode: 2, details: { profile, stored, configured } },
    );
  }
}

/**
 * Creates the profile's store table if it does not exist and registers the profile's
 * fingerprint; refuses a profile whose fingerprint differs from the registered one.
 */
export async function ensureStore(conn: Queryable, profile: Profile): Promise<StoreLayout> {
  const layout = storeLayout(profile);
  const { rows } = await conn.query<{ fingerprint: string }>(
    `INSERT INTO ${PROFILES_TABLE} (name, fingerprint, dims, metric, store_table) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO UPDATE SET name = excluded.name
     RETURNING fingerprint`,
    [profile.name, profile.fingerprint, profile.dims, profile.metric, layout.table],
  );
  const stored = rows[0]!.fingerprint;
  if (stored !== profile.fingerprint) throw new FingerprintMismatchError(profile.name, stored, profile.fingerprint);
  await conn.exec(`
    CREATE TABLE IF NOT EXISTS ${layout.table} (
      doc_id text PRIMARY KEY,
      embedding ${layout.columnType}(${profile.dims}) NOT NULL,
      content_hash text NOT NULL,
      fingerprint text NOT NULL CHECK (fingerprint = ${quoteLiteral(profile.fingerprint)}),
      embedded_at timestamptz NOT NULL DEFAULT now()
    ) WITH (toast_tuple_target = ${INLINE_ROW_BYTES})`);
  return layout;
}

/** A registered profile's fingerprint and whether its store table exists; null when it is not registered. */
export async function registeredStore(
  conn: Queryable,
  profileName: string,
): Promise<{ fingerprint: string; present: boolean } | null> {
  const { rows } = await conn.query<{ fingerprint: string; present: boolean }>(
    `SELECT fingerprint, to_regclass(store_table) IS NOT NULL AS present FROM ${PROFILES_TABLE} WHERE name = $1`,
    [profileName],
  );
  return rows[0] ?? null;
}

/** Drops a profile's store and forgets the profile (a cleanup after finalize), in the caller's transaction. */
export async function dropStore(conn: Queryable, profileName: string): Promise<void> {
  await conn.exec(`DROP TABLE IF EXISTS ${qualify(SCHEMA, quoteIdentifier(`emb_${profileName}`, 'store table'))}`);
  await conn.query(`DELETE FROM ${PROFILES_TABLE} WHERE name = $1`, [profileName]);
}
