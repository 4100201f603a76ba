import type { Profile } from '../config/profile.js';
import { encodeCopy } from '../db/copy-binary.js';
import type { Database, DatabaseKind, Queryable } from '../db/database.js';
import { vectorLiteral } from '../db/sql.js';
import { ReembedError } from '../errors.js';
import { storeLayout } from './store.js';

export interface StoredVector {
  docId: string;
  vector: Float32Array;
  contentHash: string;
}

/** A vector that must never be stored (wrong dims, NaN/Infinity, all zeros). */
export class InvalidVectorError extends ReembedError {
  constructor(profile: string, docId: string, reason: string) {
    super(
      'INVALID_VECTOR',
      `profile ${profile}: refusing to store the vector of document ${JSON.stringify(docId)}: ${reason}`,
      {
        details: { profile, docId, reason },
      },
    );
  }
}

/** The last line of defence for invariant 6, whatever produced the vector. */
export function checkVector(profile: Pick<Profile, 'name' | 'dims'>, docId: string, vector: ArrayLike<number>): void {
  if (vector.length !== profile.dims) {
    throw new InvalidVectorError(
      profile.name,
      docId,
      `it has ${vector.length} dimensions, the profile has ${profile.dims}`,
    );
  }
  let sumSq = 0;
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i]!;
    if (!Number.isFinite(x)) throw new InvalidVectorError(profile.name, docId, `value ${x} at index ${i}`);
    sumSq += x * x;
  }
  if (sumSq === 0) throw new InvalidVectorError(profile.name, docId, 'it is all zeros');
}

/**
 * Batches of up to this many values (rows × dims) go as one autocommit statement with text
 * literals; larger ones are staged by binary COPY. Staging costs five more round trips (begin,
 * create, COPY twice, commit) and a truncate at commit: about 1 ms on a local server, more over
 * a network, which text only beats while it has little to print and parse. PGlite parses text far more slowly (WebAssembly), so it stages almost everything.
 * Measured crossovers and figures: BENCHMARKS.md (`write`).
 */
const TEXT_MAX_VALUES: Record<DatabaseKind, number> = { postgres: 4096, pglite: 512 };

/** Whether a batch of `rows` vectors of `dims` is staged by binary COPY (else sent as text). */
export function stagesByCopy(db: Pick<Database, 'kind'>, rows: number, dims: number): boolean {
  return rows * dims > TEXT_MAX_VALUES[db.kind];
}

/**
 * The staging table: temporary, so it is private to its session and never WAL-logged; emptied
 * at every commit (cheaper than ON COMMIT DROP, which would create and drop catalog rows for
 * every batch), so a batch never sees another's rows; created, if missing, in every write's own
 * transaction rather than once per session, because a pooled connection may be new, may have
 * been reset (DISCARD), or may be a different server connection behind a transaction pooler.
 * One untyped `vector` column serves every profile; a halfvec store casts from it.
 * toast_tuple_target keeps rows of up to 8 KB (about 2,000 float4 dims) inline: out-of-line storage
 * here would be written once and read once, and doubled the cost of staging 1536-dim rows.
 */
const STAGE = 'pg_temp.reembed_stage';
const CREATE_STAGE = `CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (
  doc_id text NOT NULL, embedding vector NOT NULL, content_hash text NOT NULL)
  WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS`;

/**
 * The stage is never analyzed, so the planner guesses its rows from its pages and a default
 * width: 16 to 65 times too many at 384 to 1536 dims, enough to make it hash or merge join the
 * whole source (rendering and hashing every source row) for one batch. Each staged row matches
 * at most one source row, by primary key: a nested loop over that index is the right plan at
 * any source size. SET LOCAL ends with the transaction.
 */
const PLAN_STAGED = 'SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off';

/** A batch as SQL sees it: `from` yields rows `u(doc_id, embedding, content_hash)`. */
export interface StagedRows {
  conn: Queryable;
  from: string;
  /** The parameters `from` uses ($1...); the statement's own come after them. */
  params: unknown[];
}

/**
 * Makes a checked batch available to one INSERT … SELECT: large batches COPYed in binary into
 * the staging table, in one transaction with the statement (so a failure anywhere leaves
 * nothing written), small ones as text arrays in a single autocommit statement.
 */
export async function withStagedRows<T>(
  db: Database,
  rows: StoredVector[],
  write: (staged: StagedRows) => Promise<T>,
): Promise<T> {
  if (!stagesByCopy(db, rows.length, rows[0]?.vector.length ?? 0)) {
    return write({
      conn: db,
      from: 'unnest($1::text[], $2::text[], $3::text[]) AS u(doc_id, embedding, content_hash)',
      params: [rows.map((r) => r.docId), rows.map((r) => vectorLiteral(r.vector)), rows.map((r) => r.contentHash)],
    });
  }
  const payload = encodeCopy(rows.map((r) => [r.docId, r.vector, r.contentHash]));
  return db.transaction(async (tx) => {
    await tx.exec(`${CREATE_STAGE}; ${PLAN_STAGED}`);
    const copied = await tx.copyFrom(`${STAGE} (doc_id, embedding, content_hash)`, payload);
    if (copied !== rows.length) throw new Error(`staging COPY took ${copied} of ${rows.length} rows`);
    return write({ conn: tx, from: `${STAGE} AS u`, params: [] });
  });
}

/** Writes vectors into the profile's store (insert or replace) in one statement. */
export async function writeVectors(db: Database, profile: Profile, rows: StoredVector[]): Promise<number> {
  if (rows.length === 0) return 0;
  for (const r of rows) checkVector(profile, r.docId, r.vector);
  const { table, columnType } = storeLayout(profile);
  return withStagedRows(db, rows, async ({ conn, from, params }) => {
    const result = await conn.query(
      `INSERT INTO ${table} (doc_id, embedding, content_hash, fingerprint)
       SELECT u.doc_id, u.embedding::${columnType}, u.content_hash, $${params.length + 1}
       FROM ${from}
       ON CONFLICT (doc_id) DO UPDATE
         SET embedding = excluded.embedding, content_hash = excluded.content_hash, embedded_at = now()`,
      [...params, profile.fingerprint],
    );
    return result.rowCount;
  });
}
