import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { indexIfDue, indexWhenComplete, type IndexEvent } from '../../src/backfill/index-when-complete.js';
import { FAILURES_TABLE } from '../../src/backfill/tables.js';
import { runWorker } from '../../src/backfill/worker.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import type { Source } from '../../src/source/source.js';
import { indexStatus } from '../../src/store/index.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { createArticles, plannedBackfill } from './helpers.js';

describe.each(BACKENDS)('workers index a completed backfill on %s', (backend) => {
  let db: Database;
  let source: Source;
  let profile: Profile;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    ({ source, profile } = await plannedBackfill(db, 400));
  });
  afterEach(() => db.close());

  it('builds the HNSW index when the backfill is complete, and only then', async () => {
    const events: IndexEvent[] = [];
    // Half the rows: chunks are left, so a check says not complete and builds nothing.
    await runWorker(db, { source, profiles: [profile], mode: 'drain', limit: 200, pageSize: 50 });
    expect(await indexWhenComplete(db, source, profile, (e) => events.push(e))).toBe('not-complete');
    expect((await indexStatus(db, profile)).exists).toBe(false);

    await runWorker(db, {
      source,
      profiles: [profile],
      mode: 'drain',
      indexWhenComplete: true,
      onIndex: (e) => events.push(e),
    });
    expect(events.map((e) => e.phase)).toEqual(['building', 'built']);
    expect(await indexStatus(db, profile)).toMatchObject({ exists: true, valid: true, type: 'hnsw' });
    // Known to be there: nothing more to do.
    expect(await indexWhenComplete(db, source, profile, (e) => events.push(e))).toBe('indexed');
    expect(events).toHaveLength(2);
  });

  it('does not index while a row is missing, though every chunk is done', async () => {
    await runBackfill(db, { source, profiles: [profile] });
    // A row added after the chunks were planned is in the queue, not in a chunk.
    await createArticles(db, 1, 400);
    expect(await indexWhenComplete(db, source, profile)).toBe('not-complete');
    expect((await indexStatus(db, profile)).exists).toBe(false);
  });

  it('leaves the index alone unless asked (reembed backfill builds its own)', async () => {
    await runWorker(db, { source, profiles: [profile], mode: 'drain' });
    expect((await indexStatus(db, profile)).exists).toBe(false);
  });

  it('builds it once when several workers finish together', async () => {
    const events: IndexEvent[] = [];
    const workers = Array.from({ length: 3 }, () =>
      runWorker(db, {
        source,
        profiles: [profile],
        mode: 'drain',
        pageSize: 25,
        indexWhenComplete: true,
        onIndex: (e) => events.push(e),
      }),
    );
    await Promise.all(workers);
    expect(events.filter((e) => e.phase === 'failed')).toEqual([]);
    expect(events.map((e) => e.phase)).toEqual(['building', 'built']);
    expect((await indexStatus(db, profile)).valid).toBe(true);
  });

  it('does not count coverage while a row is dead-lettered, and backs off after a count short of 100%', async () => {
    await runBackfill(db, { source, profiles: [profile] });
    await db.query(
      `INSERT INTO ${FAILURES_TABLE} (profile, doc_id, error_class, message, attempts) VALUES ('small', '7', 'x', 'y', 5)`,
    );
    expect(await indexWhenComplete(db, source, profile)).toBe('not-complete');
    await db.query(`DELETE FROM ${FAILURES_TABLE}`);
    await createArticles(db, 1, 400); // queued, not in a chunk: the count comes up short
    const options = { everyMs: 60_000 };
    expect(await indexIfDue(db, source, profile, options)).toBe('not-complete');
    // Not due again for a while…
    expect(await indexIfDue(db, source, profile, options)).toBe('not-due');
    // …unless asked now: a draining worker's last look.
    await runWorker(db, { source, profiles: [profile], mode: 'drain' });
    expect(await indexIfDue(db, source, profile, { ...options, due: true })).toBe('indexed');
    expect((await indexStatus(db, profile)).valid).toBe(true);
    expect(await indexIfDue(db, source, profile, options)).toBe('indexed');
  });

  if (backend === 'postgres') {
    it('leaves the build to another process that holds the lock, then finds its index', async () => {
      await runBackfill(db, { source, profiles: [profile] });
      // Another process: a connection of its own (the test server needs no password, so the printable target is the URL).
      const other = new pg.Client({ connectionString: db.target });
      await other.connect();
      try {
        await other.query('SELECT pg_advisory_lock(hashtext($1))', ['reembed.index.small']);
        expect(await indexWhenComplete(db, source, profile)).toBe('busy');
        expect((await indexStatus(db, profile)).exists).toBe(false);
        await other.query('SELECT pg_advisory_unlock(hashtext($1))', ['reembed.index.small']);
        expect(await indexWhenComplete(db, source, profile)).toBe('indexed');
      } finally {
        await other.end();
      }
    });
  }
});
