import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { indexWhenComplete, type IndexEvent } from '../../src/backfill/index-when-complete.js';
import { runWorker } from '../../src/backfill/worker.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import type { Source } from '../../src/source/source.js';
import { indexStatus } from '../../src/store/index.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from './helpers.js';

describe.each(BACKENDS)('workers index a completed backfill on %s', (backend) => {
  let db: Database;
  let source: Source;
  let profile: Profile;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 400);
    const manifest = articlesManifest();
    source = await articlesSource(db, manifest);
    profile = getProfile(manifest, 'small');
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
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
});
