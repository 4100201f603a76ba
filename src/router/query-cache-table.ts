import type { QueryCacheSettings } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';

export const QUERY_CACHE_TABLE = schemaObject('query_cache');

/**
 * The query cache shared by every instance (`cache: { shared: true }`): a query's vector keyed by
 * the profile fingerprint and the sha256 of the query text (the text itself is not kept). The
 * vector is `real[]`, the precision pgvector searches with, so a shared hit searches exactly as
 * the miss that filled it did.
 */
export const queryCacheMigrations: Migration[] = [
  {
    version: 17,
    name: 'shared query cache',
    sql: `
      CREATE TABLE ${QUERY_CACHE_TABLE} (
        fingerprint text NOT NULL,
        query_sha256 bytea NOT NULL,
        vector real[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (fingerprint, query_sha256)
      );
      CREATE INDEX query_cache_by_age ON ${QUERY_CACHE_TABLE} (fingerprint, created_at);`,
  },
];

/** The shared vector of a query, when one younger than the TTL (0: no TTL) has the profile's dims. */
export async function lookupShared(
  conn: Queryable,
  fingerprint: string,
  digest: Buffer,
  ttlMs: number,
  dims: number,
): Promise<Float32Array | null> {
  const { rows } = await conn.query<{ vector: Array<number | string> }>(
    `SELECT vector FROM ${QUERY_CACHE_TABLE}
     WHERE fingerprint = $1 AND query_sha256 = $2
       AND ($3::double precision = 0 OR created_at > now() - make_interval(secs => $3::double precision / 1000))`,
    [fingerprint, digest, ttlMs],
  );
  const raw = rows[0]?.vector;
  // A row of other dimensions cannot be this fingerprint's: never served.
  if (!raw || raw.length !== dims) return null;
  const vector = Float32Array.from(raw, Number);
  return vector.every(Number.isFinite) ? vector : null;
}

/** Keeps the first vector written for a query: every instance computes the same one. */
export async function storeShared(
  conn: Queryable,
  fingerprint: string,
  digest: Buffer,
  vector: Float32Array,
): Promise<void> {
  await conn.query(
    `INSERT INTO ${QUERY_CACHE_TABLE} (fingerprint, query_sha256, vector) VALUES ($1, $2, $3::real[])
     ON CONFLICT (fingerprint, query_sha256) DO NOTHING`,
    [fingerprint, digest, Array.from(vector)],
  );
}

/** Drops rows past the TTL and, beyond `shared_max_rows` for the fingerprint, the oldest. */
export async function pruneShared(conn: Queryable, fingerprint: string, settings: QueryCacheSettings): Promise<number> {
  let removed = 0;
  if (settings.ttl > 0) {
    const expired = await conn.query(
      `DELETE FROM ${QUERY_CACHE_TABLE}
       WHERE fingerprint = $1 AND created_at <= now() - make_interval(secs => $2::double precision / 1000)`,
      [fingerprint, settings.ttl],
    );
    removed += expired.rowCount;
  }
  const over = await conn.query(
    `DELETE FROM ${QUERY_CACHE_TABLE} AS c USING (
       SELECT query_sha256 FROM ${QUERY_CACHE_TABLE} WHERE fingerprint = $1
       ORDER BY created_at DESC, query_sha256 OFFSET $2
     ) AS old
     WHERE c.fingerprint = $1 AND c.query_sha256 = old.query_sha256`,
    [fingerprint, settings.shared_max_rows],
  );
  return removed + over.rowCount;
}
