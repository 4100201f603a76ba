import type { IndexType, Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import { qualify, quoteIdentifier, SCHEMA } from '../db/identifiers.js';
import { ReembedError } from '../errors.js';
import { storeLayout } from './store.js';
import { warnAndContinue } from '../logger.js';
import type { IndexKind, IndexProfile } from './index-kind.js';
import { hnswKind } from './index-hnsw.js';
import { ivfflatKind, listImbalance, type ListImbalance } from './index-ivfflat.js';

export type { IndexProfile } from './index-kind.js';

/** Every index kind, by type: adding a kind is its file and one entry here. */
const KINDS: Record<IndexType, IndexKind> = { hnsw: hnswKind, ivfflat: ivfflatKind };

/**
 * The search settings of every index kind other than the profile's own that is present on its
 * store, each at reembed's default for that kind: while a changed `index:` waits for its rebuild,
 * the old index keeps serving, and must not be searched at pgvector's bare default (IVFFlat's
 * probes 1). Reads the catalog at most every 5 s per store.
 */
export async function foreignKindSettings(
  db: Queryable,
  profile: IndexProfile & { name: string; dims: number; metric: Profile['metric'] },
  k: number,
  filtered: boolean,
): Promise<string[]> {
  const table = String(storeLayout(profile).table);
  let cached = installedKinds.get(table);
  if (!cached || performance.now() - cached.at > 5000) {
    const { rows } = await db.query<{ amname: string }>(
      `SELECT DISTINCT am.amname FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
       WHERE i.indrelid = to_regclass($1)`,
      [table],
    );
    cached = { at: performance.now(), kinds: rows.map((r) => r.amname) };
    installedKinds.set(table, cached);
  }
  const own = profile.index?.type ?? 'hnsw';
  return cached.kinds
    .filter((t): t is IndexType => t !== own && t in KINDS)
    .flatMap((t) => KINDS[t].sessionSettings(KINDS[t].effective(KINDS[t].parameter.fallback, k), filtered));
}

const installedKinds = new Map<string, { at: number; kinds: string[] }>();

/** The profile's index kind (HNSW unless its `index:` says otherwise). */
export function indexKind(profile: IndexProfile): IndexKind {
  return KINDS[profile.index?.type ?? 'hnsw'];
}

/** The value of the kind's search parameter a search of k results runs with (the profile's, else reembed's default). */
export function searchValue(profile: IndexProfile, k: number, override?: number): number {
  const kind = indexKind(profile);
  return kind.effective(override ?? kind.configured(profile) ?? kind.parameter.fallback, k);
}

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
  /** The access method, e.g. `hnsw` or `ivfflat`; null when there is no index. */
  type: string | null;
  sizeBytes: number;
  /** The build options it was created with (e.g. `{ lists: 100 }`; empty: pgvector's defaults). */
  options: Record<string, number>;
  /** It is of the profile's configured kind and build options (false: the next build replaces it). */
  current: boolean;
}

export interface BuildIndexResult {
  /** `exact`: the profile has more dims than pgvector indexes (over 4,000), so search is exact. */
  search: IndexType | 'exact';
  index: string | null;
  created: boolean;
  /** An INVALID index left by an earlier failed build was dropped first. */
  replacedInvalid: boolean;
  /** Indexes of another kind or other build options, dropped once the new one was built. */
  replaced: string[];
  seconds: number;
  status: IndexStatus | null;
}

export const DEFAULT_MAINTENANCE_WORK_MEM = { postgres: '512MB', pglite: '128MB' } as const;

/** A memory size as PostgreSQL writes it; checked first so a typo fails before any work. */
const MEMORY_SIZE = /^\d+\s*(kB|MB|GB|TB)?$/;

export class IndexBuildError extends ReembedError {
  constructor(profile: string, message: string, cause?: unknown) {
    super('INDEX_BUILD_FAILED', `profile ${profile}: building the index failed: ${message}`, {
      cause,
      details: { profile },
    });
  }
}

/**
 * The index name: emb_<profile>_<type>, or emb_<profile>_<type>_b while a rebuild of the same
 * kind replaces the first (profile names are at most 48 characters, so both fit 63 bytes).
 */
export function indexName(profile: IndexProfile, alternate = false): string {
  return `emb_${profile.name}_${indexKind(profile).type}${alternate ? '_b' : ''}`;
}

/** The names reembed gives the profile's indexes, of every kind. */
function ownNames(profile: IndexProfile): string[] {
  return Object.values(KINDS).flatMap((kind) => {
    const p = { ...profile, index: { type: kind.type } } as IndexProfile;
    return [indexName(p), indexName(p, true)];
  });
}

/**
 * Every ANN index on the profile's store table, of any kind, valid or not, and any other index
 * under a name reembed gives its indexes (such an index is never current, so a build replaces it).
 */
export async function profileIndexes(conn: Queryable, profile: IndexProfile): Promise<IndexStatus[]> {
  const kinds = Object.values(KINDS);
  const { rows } = await conn.query<{
    name: string;
    valid: boolean;
    type: string;
    size: string | number;
    options: string[] | null;
  }>(
    `SELECT c.relname AS name, i.indisvalid AS valid, am.amname AS type, pg_relation_size(c.oid) AS size,
            c.reloptions AS options
     FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_am am ON am.oid = c.relam
     WHERE i.indrelid = to_regclass($1) AND (am.amname = ANY($2::text[]) OR c.relname = ANY($3::text[]))
     ORDER BY c.relname`,
    [storeLayout(profile).table, kinds.map((k) => k.accessMethod), ownNames(profile)],
  );
  const kind = indexKind(profile);
  return rows.map((row) => {
    const options = Object.fromEntries(
      (row.options ?? []).map((o) => {
        const [key, value] = o.split('=');
        return [key!, Number(value)];
      }),
    );
    return {
      name: row.name,
      exists: true,
      valid: row.valid,
      type: row.type,
      sizeBytes: Number(row.size),
      options,
      current: row.type === kind.accessMethod && kind.matches(profile, options),
    };
  });
}

/**
 * The profile's index: the valid one of its configured kind and options if there is one, else
 * any valid one (searches use it until a build replaces it), else an INVALID leftover; or,
 * when there is none, a status naming the index a build would create.
 */
export async function indexStatus(conn: Queryable, profile: IndexProfile): Promise<IndexStatus> {
  const all = await profileIndexes(conn, profile);
  const found = all.find((i) => i.valid && i.current) ?? all.find((i) => i.valid) ?? all[0];
  return (
    found ?? {
      name: indexName(profile),
      exists: false,
      valid: false,
      type: null,
      sizeBytes: 0,
      options: {},
      current: false,
    }
  );
}

/**
 * Builds the profile's index of its configured kind (HNSW unless `index:` says otherwise),
 * meant for after a bulk load (building once is much faster than maintaining it row by row,
 * and IVFFlat's centroids come from the rows present). On a server it builds CONCURRENTLY, so
 * searches and writes continue; CONCURRENTLY cannot run in a transaction, hence a pinned
 * session. Running it again is a no-op. An index of another kind or other build options is
 * replaced: the new one is built first (under the other name when the kind is the same), then
 * the old one dropped, so searches keep an index meanwhile. An INVALID leftover of a failed
 * concurrent build is dropped and rebuilt, and a build that fails now drops its own leftover
 * before the error is raised.
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
    return {
      search: 'exact',
      index: null,
      created: false,
      replacedInvalid: false,
      replaced: [],
      seconds: elapsed(),
      status: null,
    };
  }
  const kind = indexKind(profile);
  let existing = await profileIndexes(db, profile);
  const invalid = existing.filter((i) => !i.valid);
  for (const leftover of invalid) await dropInvalid(db, profile, leftover.name);
  existing = existing.filter((i) => i.valid);
  const stale = existing.filter((i) => !i.current);
  const current = existing.find((i) => i.current);
  if (current) {
    // A rebuild that stopped between building the new index and dropping the old one.
    for (const old of stale) await dropNamed(db, old.name);
    return {
      search: kind.type,
      index: current.name,
      created: false,
      replacedInvalid: invalid.length > 0,
      replaced: stale.map((i) => i.name),
      seconds: elapsed(),
      status: current,
    };
  }
  const taken = new Set(existing.map((i) => i.name));
  const name = taken.has(indexName(profile)) ? indexName(profile, true) : indexName(profile);
  const storeRows = kind.needsRowCount ? await countRows(db, layout.table) : 0;
  const withOptions = Object.entries(kind.buildOptions(profile, storeRows)).map(([k, v]) => `${k} = ${Math.trunc(v)}`);

  const concurrently = db.kind === 'postgres' ? 'CONCURRENTLY ' : '';
  const sql = `CREATE INDEX ${concurrently}IF NOT EXISTS ${quoteIdentifier(name, 'index name')}
    ON ${layout.table} USING ${kind.accessMethod} (embedding ${layout.opclass})${withOptions.length ? ` WITH (${withOptions.join(', ')})` : ''}`;

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
    const leftover = (await profileIndexes(db, profile).catch(() => [])).find((i) => i.name === name);
    if (leftover && !leftover.valid)
      await dropInvalid(db, profile, name).catch(
        warnAndContinue('dropping the invalid index a failed build left', { profile: profile.name }),
      );
    throw new IndexBuildError(profile.name, (error as Error).message ?? String(error), error);
  } finally {
    await stopPolling?.();
  }
  for (const old of stale) await dropNamed(db, old.name);
  const status = await indexStatus(db, profile);
  return {
    search: kind.type,
    index: name,
    created: true,
    replacedInvalid: invalid.length > 0,
    replaced: stale.map((i) => i.name),
    seconds: elapsed(),
    status,
  };
}

async function countRows(conn: Queryable, table: string): Promise<number> {
  const { rows } = await conn.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]!.n);
}

/**
 * Drops an INVALID index, unless a build of it is in progress: an index being built
 * concurrently is not valid yet either, and dropping it would break that build.
 */
async function dropInvalid(db: Database, profile: IndexProfile, name: string): Promise<void> {
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
  await dropNamed(db, name);
}

async function dropNamed(db: Database, name: string): Promise<void> {
  const concurrently = db.kind === 'postgres' ? 'CONCURRENTLY ' : '';
  await db.exec(`DROP INDEX ${concurrently}IF EXISTS ${qualify(SCHEMA, quoteIdentifier(name, 'index name'))}`);
}

/** Drops the profile's ANN indexes, of any kind (concurrently on a server). True when one was dropped. */
export async function dropIndex(db: Database, profile: IndexProfile): Promise<boolean> {
  const all = await profileIndexes(db, profile);
  for (const index of all) await dropNamed(db, index.name);
  return all.length > 0;
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

/** An index's status and, for IVFFlat, the sizes of its lists. */
export interface IndexReport extends IndexStatus {
  /** IVFFlat only (null for other kinds, a missing or INVALID index, when not asked for, or when they could not be read). */
  lists: ListImbalance | null;
  /** It is not the kind or build options the manifest asks for: the next backfill or worker rebuilds it. */
  rebuildPending: boolean;
}

/**
 * The profile's index for `status` and `verify`: its status, and for an IVFFlat index the list
 * imbalance (listImbalance: about one pass over the store; see there for the method).
 */
export async function describeIndex(
  db: Database,
  profile: IndexProfile,
  options: { listSizes?: boolean } = {},
): Promise<IndexReport> {
  const status = await indexStatus(db, profile);
  let lists: ListImbalance | null = null;
  const wanted = options.listSizes ?? true;
  if (wanted && status.valid && status.type === ivfflatKind.accessMethod && status.options.lists) {
    lists = await listImbalance(db, profile, status.name, status.options.lists).catch((error: unknown) => {
      warnAndContinue('reading the sizes of the IVFFlat lists', { profile: profile.name })(error);
      return null;
    });
  }
  return { ...status, lists, rebuildPending: status.exists && !status.current };
}
