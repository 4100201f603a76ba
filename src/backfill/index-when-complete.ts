import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import type { Source } from '../source/source.js';
import { buildIndex, indexStatus, type IndexStatus } from '../store/index.js';
import { storeLayout } from '../store/store.js';
import { countCoverage } from './coverage.js';
import { CHUNKS_TABLE, FAILURES_TABLE } from './tables.js';
import { warnAndContinue } from '../logger.js';

export type IndexEvent =
  | { profile: string; phase: 'building' }
  | { profile: string; phase: 'built'; index: string; seconds: number }
  | { profile: string; phase: 'failed'; error: unknown };

/**
 * What a check found: the index is there (or not needed); the backfill is not complete (`counted`
 * when that took a coverage count); another process is building it; or the build failed.
 */
export type IndexCheck = 'indexed' | 'not-complete' | 'busy' | 'failed';

/**
 * Builds the profile's index (of its configured kind) once its backfill is complete (every planned chunk done, no
 * dead letters, coverage 100%, counted), as `reembed backfill` does at the end of its own run, so
 * stores backfilled by `reembed worker` processes alone end up indexed too. One process builds it
 * (a session advisory lock: the others get 'busy'); on a server it is built CONCURRENTLY, so
 * searches and writes go on meanwhile.
 */
export async function indexWhenComplete(
  db: Database,
  source: Source,
  profile: Profile,
  onEvent?: (event: IndexEvent) => void,
): Promise<IndexCheck> {
  return (await check(db, source, profile, onEvent)).result;
}

async function check(
  db: Database,
  source: Source,
  profile: Profile,
  onEvent?: (event: IndexEvent) => void,
): Promise<{ result: IndexCheck; counted: boolean }> {
  if (storeLayout(profile).index === 'exact') return { result: 'indexed', counted: false };
  if (isBuilt(await indexStatus(db, profile))) return { result: 'indexed', counted: false };
  // Cheap reasons first; the coverage count reads every source row.
  const { rows } = await db.query<{ planned: string | number; open: string | number; failed: boolean }>(
    `SELECT count(*) AS planned, count(*) FILTER (WHERE NOT done) AS open,
            EXISTS (SELECT 1 FROM ${FAILURES_TABLE} WHERE profile = $1) AS failed
     FROM ${CHUNKS_TABLE} WHERE profile = $1`,
    [profile.name],
  );
  const r = rows[0]!;
  if (Number(r.planned) === 0 || Number(r.open) > 0 || r.failed) return { result: 'not-complete', counted: false };
  if ((await countCoverage(db, source, profile)).ratio < 1) return { result: 'not-complete', counted: true };
  return { result: await buildOnce(db, profile, onEvent), counted: true };
}

/** The index the profile asks for is there (one of another kind or build options is rebuilt). */
function isBuilt(status: IndexStatus): boolean {
  return status.valid && status.current;
}

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
      if (isBuilt(await indexStatus(db, profile))) return 'indexed';
      onEvent?.({ profile: profile.name, phase: 'building' });
      const built = await buildIndex(db, profile);
      onEvent?.({ profile: profile.name, phase: 'built', index: built.index ?? '', seconds: built.seconds });
      return 'indexed';
    } catch (error) {
      onEvent?.({ profile: profile.name, phase: 'failed', error });
      return 'failed';
    } finally {
      await conn
        .query('SELECT pg_advisory_unlock(hashtext($1))', [key])
        .catch(warnAndContinue('unlocking the index-build lock', { profile: profile.name }));
    }
  });
}

/** Per database and profile in this process: one check at a time, and when the next is due. */
interface CheckState {
  indexed: boolean;
  inFlight: Promise<IndexCheck> | null;
  nextAt: number;
  backoffMs: number;
}

const STATES = new WeakMap<Database, Map<string, CheckState>>();

export interface IndexCheckOptions {
  /** Check now, even if the last check was recent (a draining worker's last look). */
  due?: boolean;
  /** Between checks (default 30 s); doubles after each coverage count short of 100%, up to 16×. */
  everyMs?: number;
  onEvent?: (event: IndexEvent) => void;
}

/**
 * indexWhenComplete, throttled for the workers of a process: they share one check per
 * database and profile (a second caller waits for the check in flight), skip a profile known to
 * be indexed, and check again only when due, backing off while a counted coverage stays short
 * (a dead letter fixed later, a filtered plan), so idle workers do not count a large source
 * every 30 s. 'not-due' when nothing was checked.
 */
export async function indexIfDue(
  db: Database,
  source: Source,
  profile: Profile,
  options: IndexCheckOptions = {},
): Promise<IndexCheck | 'not-due'> {
  let states = STATES.get(db);
  if (!states) STATES.set(db, (states = new Map()));
  let state = states.get(profile.name);
  const every = options.everyMs ?? 30_000;
  if (!state) states.set(profile.name, (state = { indexed: false, inFlight: null, nextAt: 0, backoffMs: every }));
  if (state.indexed) return 'indexed';
  if (state.inFlight) return options.due ? state.inFlight : 'not-due';
  if (!options.due && performance.now() < state.nextAt) return 'not-due';
  const s = state;
  s.inFlight = (async () => {
    try {
      const { result, counted } = await check(db, source, profile, options.onEvent);
      if (result === 'indexed') s.indexed = true;
      s.backoffMs = result === 'not-complete' && counted ? Math.min(s.backoffMs * 2, every * 16) : every;
      s.nextAt = performance.now() + s.backoffMs;
      return result;
    } catch (error) {
      s.nextAt = performance.now() + every;
      options.onEvent?.({ profile: profile.name, phase: 'failed', error });
      return 'failed' as const;
    } finally {
      s.inFlight = null;
    }
  })();
  return s.inFlight;
}
