import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill } from '../../src/backfill/backfill.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { leaseChunk, leaseQueueItems, releaseLeases } from '../../src/backfill/lease.js';
import { QUEUE_TABLE } from '../../src/source/capture.js';
import { runWorker } from '../../src/backfill/worker.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { isBrokenConnectionError, isTransientDatabaseError } from '../../src/db/transient.js';
import { DatabaseError } from '../../src/errors.js';
import { migrations } from '../../src/schema.js';
import { BACKENDS, createServerDatabase, openTestDatabase } from '../helpers/databases.js';
import {
  articlesManifest,
  articlesSource,
  createArticles,
  expectStoreMatchesSource,
  getProfile,
  plannedBackfill,
  sleep,
} from './helpers.js';

/** Errors as the server really raises them, caught from a client of its own. */
async function caught(url: string, run: (a: pg.Client, b: pg.Client) => Promise<unknown>): Promise<unknown> {
  const a = new pg.Client({ connectionString: url, application_name: 'reembed-test' });
  const b = new pg.Client({ connectionString: url, application_name: 'reembed-test' });
  a.on('error', () => {});
  b.on('error', () => {});
  await a.connect();
  await b.connect();
  try {
    await run(a, b);
    return null;
  } catch (error) {
    return error;
  } finally {
    await a.end().catch(() => {});
    await b.end().catch(() => {});
  }
}

describe('transient database errors on postgres', () => {
  let server: { url: string; drop: () => Promise<void> };
  let db: Database;
  beforeEach(async () => {
    server = await createServerDatabase();
    db = await openDatabase(server.url, { migrations });
  });
  afterEach(async () => {
    await db.close();
    await server.drop();
  });

  /** Ends every reembed connection to the test database but the caller's: a server restart, as the worker sees it. */
  async function terminateReembedConnections(): Promise<number> {
    const admin = new pg.Client({ connectionString: server.url, application_name: 'reembed-test-admin' });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'reembed' AND pid <> pg_backend_pid()`,
      );
      return Number(rows[0]!.n);
    } finally {
      await admin.end();
    }
  }

  it('tells a deadlock, a terminated connection and a wrapped one from errors in the work itself', async () => {
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)');
    const deadlock = await caught(server.url, async (a, b) => {
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query('UPDATE t SET v = 1 WHERE id = 1');
      await b.query('UPDATE t SET v = 1 WHERE id = 2');
      // Each waits for the other: the server aborts one of them after deadlock_timeout.
      await Promise.all([a.query('UPDATE t SET v = 2 WHERE id = 2'), b.query('UPDATE t SET v = 2 WHERE id = 1')]);
    });
    expect((deadlock as { code?: string }).code).toBe('40P01');
    expect(isTransientDatabaseError(deadlock)).toBe(true);
    // The connection itself is fine: it may go back to the pool.
    expect(isBrokenConnectionError(deadlock)).toBe(false);

    const terminated = await caught(server.url, async (a, b) => {
      const pid = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const sleeping = a.query('SELECT pg_sleep(5)').then(
        () => null,
        (error: unknown) => error,
      );
      await sleep(100);
      await b.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await sleeping;
      if (error) throw error;
    });
    expect(terminated).toBeInstanceOf(Error);
    expect(isTransientDatabaseError(terminated)).toBe(true);
    expect(isBrokenConnectionError(terminated)).toBe(true);
    expect(isTransientDatabaseError(new DatabaseError('writing a page failed', terminated))).toBe(true);

    const duplicate = await caught(server.url, (a) => a.query('INSERT INTO t VALUES (1, 0)'));
    expect((duplicate as { code?: string }).code).toBe('23505');
    expect(isTransientDatabaseError(duplicate)).toBe(false);
    const syntax = await caught(server.url, (a) => a.query('SELEC 1'));
    expect(isTransientDatabaseError(syntax)).toBe(false);
    expect(isTransientDatabaseError(new Error('provider returned 3 vectors for 4 texts'))).toBe(false);
    expect(isTransientDatabaseError(null)).toBe(false);
  });

  it('a worker whose connections are cut again and again finishes the backfill, every vector right', async () => {
    const { source, profile } = await plannedBackfill(db, 3000);
    const retries: string[] = [];
    let finished = false;
    const worker = runWorker(db, {
      source,
      profiles: [profile],
      mode: 'drain',
      pageSize: 5,
      // Two pages in flight: the pipelined path, with a bound on what a cut can leave uncounted.
      pipelineDepth: 2,
      onTransientError: (error) => retries.push(error instanceof Error ? error.message : String(error)),
    }).finally(() => (finished = true));
    let cuts = 0;
    // Cut until the worker has been hit in the middle of its work three times, or it is done.
    while (!finished && retries.length < 3) {
      await sleep(150);
      cuts += await terminateReembedConnections();
    }
    const stats = await worker;
    expect(cuts).toBeGreaterThan(0);
    expect(retries.length, `the worker finished before a cut hit it (${cuts} connections cut)`).toBeGreaterThan(0);
    // Pages written just before a cut (at most the two in flight) are not counted by the worker,
    // and are not embedded again.
    expect(stats.rowsEmbedded).toBeLessThanOrEqual(3000);
    expect(stats.rowsEmbedded).toBeGreaterThanOrEqual(3000 - 2 * 5 * retries.length);
    expect((await countCoverage(db, source, profile)).ratio).toBe(1);
    const check = await expectStoreMatchesSource(db, source, profile);
    expect(check).toEqual({ rows: 3000, mismatched: [], missing: [], orphans: [] });
  });

  it('fails when transient errors outlast its retry budget', async () => {
    const { source, profile } = await plannedBackfill(db, 3000);
    let finished = false;
    const worker = runWorker(db, { source, profiles: [profile], mode: 'drain', pageSize: 5, transientRetryMs: 0 })
      .then(() => 'finished')
      .catch((error: unknown) => error)
      .finally(() => (finished = true));
    while (!finished) {
      await sleep(150);
      await terminateReembedConnections();
    }
    const outcome = await worker;
    expect(outcome).toBeInstanceOf(Error);
    expect(isTransientDatabaseError(outcome)).toBe(true);
  });
});

describe.each(BACKENDS)('worker leases on %s', (backend) => {
  it('a worker takes back a chunk it still holds, which no other live worker may take', async () => {
    const db = await openTestDatabase(backend);
    try {
      await plannedBackfill(db, 300);
      const first = await leaseChunk(db, 'w1', ['small'], 30);
      expect(first).not.toBeNull();
      // w1's step failed before it could give the lease back: w1 gets the same chunk again…
      expect(await leaseChunk(db, 'w1', ['small'], 30)).toEqual(first);
      // …while w2 gets another one.
      expect((await leaseChunk(db, 'w2', ['small'], 30))!.chunkNo).not.toBe(first!.chunkNo);
    } finally {
      await db.close();
    }
  });
  it('a pause of one profile gives back only that profile’s leases', async () => {
    const db = await openTestDatabase(backend);
    try {
      await createArticles(db, 20);
      const manifest = articlesManifest();
      const source = await articlesSource(db, manifest);
      for (const name of ['small', 'big'])
        await prepareBackfill(db, source, getProfile(manifest, name), manifest.profiles);
      await db.exec(`UPDATE public.articles SET body = body || ' (edited)' WHERE id <= 5`);
      const items = await leaseQueueItems(db, 'w1', ['small', 'big'], 100, 30);
      expect(new Set(items.map((i) => i.profile))).toEqual(new Set(['small', 'big']));
      await releaseLeases(db, 'w1', 'small');
      const { rows } = await db.query<{ profile: string; leased: boolean }>(
        `SELECT DISTINCT profile, leased_by IS NOT NULL AS leased FROM ${QUEUE_TABLE} ORDER BY profile`,
      );
      expect(rows).toEqual([
        { profile: 'big', leased: true },
        { profile: 'small', leased: false },
      ]);
    } finally {
      await db.close();
    }
  });
});
