import type { Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import { qualify, quoteIdentifier, SCHEMA, SCHEMA_NAME } from '../db/identifiers.js';
import { ReembedError } from '../errors.js';
import { storeLayout } from './store.js';
import { warnAndContinue } from '../logger.js';

type IndexProfile = Pick<Profile, 'name' | 'dims' | 'metric'>;

/** One sample of pg_stat_progress_create_index (a server only; PGlite has one connection). */
export interface IndexProgress {
  phase: string;
  blocksDone: number;
  blocksTotal: number;
  tuplesDone: number;
  tuplesTotal: number;
}

export interface BuildIndexOptions {
  onProgress?: (progress: IndexProgress) => void;
  /**
   * maintenance_work_mem for the build, set on the building session only. HNSW builds fast
   * while the graph fits in it and falls back to a much slower on-disk build when not. The
   * embedded default is smaller because PGlite's WebAssembly heap is limited.
   */
  maintenanceWorkMem?: string;
  /** How often the server's progress view is sampled. */
  progressIntervalMs?: number;
}

export interface IndexStatus {
  name: string;
  exists: boolean;
  /** False for the leftover of a failed CREATE INDEX CONCURRENTLY: it exists but is unusable. */
  valid: boolean;
  /** The access method, e.g. `hnsw`; null when there is no index. */
  type: string | null;
  sizeBytes: number;
}

export interface BuildIndexResult {
  /** `exact`: the profile has more dims than pgvector indexes (over 4,000), so search is exact. */
  search: 'hnsw' | 'exact';
  index: string | null;
  created: boolean;
  /** An INVALID index left by an earlier failed build was dropped first. */
  replacedInvalid: boolean;
  seconds: number;
  status: IndexStatus | null;
}

export const DEFAULT_MAINTENANCE_WORK_MEM = { postgres: '512MB', pglite: '128MB' } as const;

/** A memory size as PostgreSQL writes it; checked first so a typo fails before any work. */
const MEMORY_SIZE = /^\d+\s*(kB|MB|GB|TB)?$/;

export class IndexBuildError extends ReembedError {
  constructor(profile: string, message: string, cause?: unknown) {
    super('INDEX_BUILD_FAILED', `profile ${profile}: building the HNSW index failed: ${message}`, {
      cause,
      details: { profile },
    });
  }
}

/** The index name: emb_<profile>_hnsw (profile names are at most 48 characters, so it fits 63 bytes). */
export function indexName(profile: IndexProfile): string {
  return `emb_${profile.name}_hnsw`;
}

export async function indexStatus(conn: Queryable, profile: IndexProfile): Promise<IndexStatus> {
  const name = indexName(profile);
  const { rows } = await conn.query<{ valid: boolean; type: string; size: string | number }>(
    `SELECT i.indisvalid AS valid, am.amname AS type, pg_relation_size(c.oid) AS size
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_index i ON i.indexrelid = c.oid
     JOIN pg_am am ON am.oid = c.relam
     WHERE n.nspname = $1 AND c.relname = $2`,
    [SCHEMA_NAME, name],
  );
  const row = rows[0];
  return row
    ? { name, exists: true, valid: row.valid, type: row.type, sizeBytes: Number(row.size) }
    : { name, exists: false, valid: false, type: null, sizeBytes: 0 };
}

/**
 * Builds the profile's HNSW index, meant for after a bulk load (building once is much faster
 * than maintaining the graph row by row). On a server it builds CONCURRENTLY, so searches and
 * writes continue; CONCURRENTLY cannot run in a transaction, hence a pinned session. Running it
 * again is a no-op; an INVALID leftover of a failed concurrent build is dropped and rebuilt,
 * and a build that fails now drops its own leftover before the error is raised.
 */
export async function buildIndex(
  db: Database,
  profile: IndexProfile,
  options: BuildIndexOptions = {},
): Promise<BuildIndexResult> {
  const started = performance.now();
  const layout = storeLayout(profile);
  const memory = options.maintenanceWorkMem ?? DEFAULT_MAINTENANCE_WORK_MEM[db.kind];
  if (!MEMORY_SIZE.test(memory)) {
    throw new IndexBuildError(profile.name, `maintenance_work_mem ${JSON.stringify(memory)} is not a size like 512MB`);
  }
  const elapsed = () => (performance.now() - started) / 1000;
  if (layout.index === 'exact') {
    return { search: 'exact', index: null, created: false, replacedInvalid: false, seconds: elapsed(), status: null };
  }
  const name = indexName(profile);
  const before = await indexStatus(db, profile);
  if (before.exists && before.valid) {
    return { search: 'hnsw', index: name, created: false, replacedInvalid: false, seconds: elapsed(), status: before };
  }
  if (before.exists) await dropInvalid(db, profile);

  const concurrently = db.kind === 'postgres' ? 'CONCURRENTLY ' : '';
  const sql = `CREATE INDEX ${concurrently}IF NOT EXISTS ${quoteIdentifier(name, 'index name')}
    ON ${layout.table} USING hnsw (embedding ${layout.opclass})`;

  const stopPolling = db.kind === 'postgres' && options.onProgress ? pollProgress(db, profile, options) : null;
  try {
    await db.session(async (conn) => {
      await conn.query(`SELECT set_config('maintenance_work_mem', $1, false)`, [memory]);
      try {
        await conn.exec(sql);
      } finally {
        // The session goes back to the pool; the next user must not inherit the raised setting.
        await conn
          .exec('RESET maintenance_work_mem')
          .catch(warnAndContinue('resetting maintenance_work_mem after an index build', { profile: profile.name }));
      }
    });
  } catch (error) {
    const leftover = await indexStatus(db, profile).catch(() => null);
    if (leftover?.exists && !leftover.valid)
      await dropInvalid(db, profile).catch(
        warnAndContinue('dropping the invalid index a failed build left', { profile: profile.name }),
      );
    throw new IndexBuildError(profile.name, (error as Error).message ?? String(error), error);
  } finally {
    await stopPolling?.();
  }
  const status = await indexStatus(db, profile);
  return { search: 'hnsw', index: name, created: true, replacedInvalid: before.exists, seconds: elapsed(), status };
}

/**
 * Drops an INVALID index, unless a build of it is in progress: an index being built
 * concurrently is not valid yet either, and dropping it would break that build.
 */
async function dropInvalid(db: Database, profile: IndexProfile): Promise<void> {
  const name = indexName(profile);
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_progress_create_index WHERE index_relid = to_regclass($1)`,
    [qualify(SCHEMA, quoteIdentifier(name, 'index name'))],
  );
  if (rows[0]) {
    throw new IndexBuildError(
      profile.name,
      `another session (pid ${rows[0].pid}) is building ${name} right now; wait for it`,
    );
  }
  await dropIndex(db, profile);
}

/** Drops the profile's index if it exists (concurrently on a server). True when one was dropped. */
export async function dropIndex(db: Database, profile: IndexProfile): Promise<boolean> {
  const exists = (await indexStatus(db, profile)).exists;
  if (!exists) return false;
  const concurrently = db.kind === 'postgres' ? 'CONCURRENTLY ' : '';
  await db.exec(
    `DROP INDEX ${concurrently}IF EXISTS ${qualify(SCHEMA, quoteIdentifier(indexName(profile), 'index name'))}`,
  );
  return true;
}

/**
 * Samples pg_stat_progress_create_index from another pooled connection while the build runs.
 * Returns a function that stops sampling and waits for the sample in flight.
 */
function pollProgress(db: Database, profile: IndexProfile, options: BuildIndexOptions): () => Promise<void> {
  const table = storeLayout(profile).table;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  const sample = async () => {
    const { rows } = await db.query<{
      phase: string;
      blocks_done: string;
      blocks_total: string;
      tuples_done: string;
      tuples_total: string;
    }>(
      `SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total
       FROM pg_stat_progress_create_index WHERE relid = to_regclass($1)`,
      [table],
    );
    const row = rows[0];
    if (row && !stopped) {
      options.onProgress!({
        phase: row.phase,
        blocksDone: Number(row.blocks_done),
        blocksTotal: Number(row.blocks_total),
        tuplesDone: Number(row.tuples_done),
        tuplesTotal: Number(row.tuples_total),
      });
    }
  };
  const timer = setInterval(() => {
    // A sample that fails (the pool is busy or closing) is skipped; progress is best effort.
    inFlight = inFlight
      .then(sample)
      .catch(warnAndContinue('sampling the progress of an index build', { profile: profile.name }));
  }, options.progressIntervalMs ?? 500);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await inFlight;
  };
}
