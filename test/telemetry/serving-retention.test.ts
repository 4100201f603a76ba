import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { ConfigError } from '../../src/errors.js';
import { MIGRATIONS_TABLE } from '../../src/migration/tables.js';
import { ServingMetricsRecorder, SERVING_METRICS_TABLE } from '../../src/telemetry/serving-metrics.js';
import { PRUNE_LOCK_KEY, pruneServingMetrics, startServingRetention } from '../../src/telemetry/serving-retention.js';
import { BACKENDS, createServerDatabase, openTestDatabase } from '../helpers/databases.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';

const HOUR = 3_600_000;

/** Writes one window for `profile` under `migration`, then backdates it by `ageMs` (database clock). */
async function windowAged(db: Database, profile: string, migration: string, ageMs: number): Promise<void> {
  const recorder = new ServingMetricsRecorder(db, { instance: `i-${profile}-${migration}-${ageMs}` });
  recorder.setMigration(migration ? { id: migration, version: 1 } : null);
  recorder.request(profile, { ok: true, latencyMs: 5 });
  await recorder.close();
  await db.query(
    `UPDATE ${SERVING_METRICS_TABLE} SET recorded_at = clock_timestamp() - make_interval(secs => $2::double precision / 1000)
     WHERE instance = $1`,
    [`i-${profile}-${migration}-${ageMs}`, ageMs],
  );
}

async function migrationIn(db: Database, id: string, phase: string): Promise<void> {
  await db.query(
    `INSERT INTO ${MIGRATIONS_TABLE} (id, source, control_profile, candidate_profile, phase, percent)
     VALUES ($1, 'src_' || $1, 'a', 'b', $2, $3)`,
    [id, phase, phase === 'canary' ? 5 : 0],
  );
}

async function windows(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ instance: string }>(
    `SELECT instance FROM ${SERVING_METRICS_TABLE} ORDER BY instance`,
  );
  return rows.map((r) => r.instance);
}

async function hoursAgo(db: Database, hours: number): Promise<Date> {
  const { rows } = await db.query<{ at: Date }>(`SELECT clock_timestamp() - make_interval(hours => $1) AS at`, [hours]);
  return rows[0]!.at;
}

describe.each(BACKENDS)('serving metrics retention on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await migrationIn(db, 'm_live', 'canary');
    await migrationIn(db, 'm_done', 'rolled_back');
    await migrationIn(db, 'm_final', 'finalized');
    await migrationIn(db, 'm_plan', 'backfilling');
    await windowAged(db, 'a', '', 3 * HOUR); // no migration, old
    await windowAged(db, 'a', '', 0); // no migration, new
    await windowAged(db, 'b', 'm_live', 3 * HOUR); // old, but its migration is measured
    await windowAged(db, 'b', 'm_done', 3 * HOUR); // old, migration ended
    await windowAged(db, 'b', 'm_final', 3 * HOUR); // old, migration finalized
    await windowAged(db, 'b', 'm_plan', 3 * HOUR); // old, migration not yet measured (no gate reads a backfill's traffic)
    await windowAged(db, 'b', 'm_done', 0); // new, migration ended
  });
  afterEach(() => db.close());

  it('deletes windows older than the cut, except those of a migration a controller may still measure', async () => {
    const result = await pruneServingMetrics(db, { olderThan: await hoursAgo(db, 2) });
    expect(result).toEqual({ deleted: 4, keptForActiveMigrations: 1, skipped: false });
    expect(await windows(db)).toEqual(['i-a--0', 'i-b-m_done-0', `i-b-m_live-${3 * HOUR}`]);
  });

  it('with dryRun counts the same windows and deletes none', async () => {
    const before = await windows(db);
    const result = await pruneServingMetrics(db, { olderThan: await hoursAgo(db, 2), dryRun: true });
    expect(result).toEqual({ deleted: 4, keptForActiveMigrations: 1, skipped: false });
    expect(await windows(db)).toEqual(before);
  });

  it('keeps everything younger than the cut', async () => {
    const result = await pruneServingMetrics(db, { olderThan: await hoursAgo(db, 4) });
    expect(result).toEqual({ deleted: 0, keptForActiveMigrations: 0, skipped: false });
    expect(await windows(db)).toHaveLength(7);
  });

  it('deletes in batches, all of a large backlog', async () => {
    await db.query(
      `INSERT INTO ${SERVING_METRICS_TABLE} (profile, window_start, instance, window_ms, latency_counts, recorded_at)
       SELECT 'bulk', clock_timestamp() - interval '40 days', 'i' || g, 10000, '{}', clock_timestamp() - interval '40 days'
       FROM generate_series(1, 25000) g`,
    );
    const result = await pruneServingMetrics(db, { olderThan: await hoursAgo(db, 2) });
    expect(result).toEqual({ deleted: 25_004, keptForActiveMigrations: 1, skipped: false });
    expect(await windows(db)).toEqual(['i-a--0', 'i-b-m_done-0', `i-b-m_live-${3 * HOUR}`]);
  });

  it('prunes in the background at start, by the retention', async () => {
    const stop = startServingRetention(db, { retentionMs: 2 * HOUR, everyMs: 60_000 });
    await stop(); // waits for the prune in flight
    expect(await windows(db)).toEqual(['i-a--0', 'i-b-m_done-0', `i-b-m_live-${3 * HOUR}`]);
  });

  it('keeps every window with retention 0, and refuses a negative one', async () => {
    await startServingRetention(db, { retentionMs: 0 })();
    expect(await windows(db)).toHaveLength(7);
    expect(() => startServingRetention(db, { retentionMs: -1 })).toThrow(ConfigError);
    expect(() => startServingRetention(db, { retentionMs: Number.NaN })).toThrow(ConfigError);
  });
});

describe('serving metrics retention on postgres, two instances', () => {
  it('skips when another instance is pruning', async () => {
    const server = await createServerDatabase();
    const db = await openDatabase(server.url, { migrations });
    const other = new pg.Client({ connectionString: server.url });
    await other.connect();
    try {
      await windowAged(db, 'a', '', 3 * HOUR);
      await other.query('BEGIN');
      // The same key as a prune in progress on another instance.
      await other.query('SELECT pg_advisory_xact_lock($1)', [PRUNE_LOCK_KEY]);
      const result = await pruneServingMetrics(db, { olderThan: await hoursAgo(db, 2) });
      expect(result).toEqual({ deleted: 0, keptForActiveMigrations: 0, skipped: true });
      expect(await windows(db)).toHaveLength(1);
      await other.query('COMMIT');
      expect((await pruneServingMetrics(db, { olderThan: await hoursAgo(db, 2) })).deleted).toBe(1);
    } finally {
      await other.end();
      await db.close();
      await server.drop();
    }
  });
});
