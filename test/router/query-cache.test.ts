import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { QueryCache } from '../../src/router/query-cache.js';
import { pruneShared, QUERY_CACHE_TABLE, storeShared } from '../../src/router/query-cache-table.js';
import { Router } from '../../src/router/router.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';

function profileWith(cache: Partial<Profile['cache']>, fingerprint = 'fp-1', dims = 4): Profile {
  const base = getProfile(articlesManifest(), 'small');
  return { ...base, dims, fingerprint, cache: { ...base.cache, ...cache } };
}

/** An embed function that counts its calls and returns a vector made from the query and the call. */
function counting(dims = 4): { calls: number; embed: (q: string) => () => Promise<Float32Array> } {
  const state = {
    calls: 0,
    embed: (q: string) => async () => {
      state.calls++;
      return Float32Array.from({ length: dims }, (_, i) => q.length + i + state.calls / 10);
    },
  };
  return state;
}

describe('the in-process query cache', () => {
  // The local cache never touches the database; a PGlite stands in for the shared table's.
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase('pglite');
  });
  afterAll(() => db.close());

  it('embeds a query once and serves the same vector after', async () => {
    const cache = new QueryCache(db);
    const profile = profileWith({});
    const e = counting();
    const first = await cache.vector(profile, 'red shoes', e.embed('red shoes'));
    const second = await cache.vector(profile, 'red shoes', e.embed('red shoes'));
    const other = await cache.vector(profile, 'red shoe', e.embed('red shoe'));
    expect([first.outcome, second.outcome, other.outcome]).toEqual(['miss', 'hit', 'miss']);
    expect(second.vector).toEqual(first.vector);
    expect(e.calls).toBe(2);
  });

  it('never serves a vector across a fingerprint change', async () => {
    const cache = new QueryCache(db);
    const e = counting();
    await cache.vector(profileWith({}, 'fp-old'), 'q', e.embed('q'));
    const changed = await cache.vector(profileWith({}, 'fp-new'), 'q', e.embed('q'));
    expect(changed.outcome).toBe('miss');
    expect(e.calls).toBe(2);
  });

  it('expires entries after the TTL on its clock and evicts the least recently used beyond size', async () => {
    let now = 1_000;
    const cache = new QueryCache(db, { now: () => now });
    const profile = profileWith({ size: 2, ttl: 60_000 });
    const e = counting();
    await cache.vector(profile, 'a', e.embed('a'));
    now += 59_000;
    expect((await cache.vector(profile, 'a', e.embed('a'))).outcome).toBe('hit');
    now += 2_000;
    expect((await cache.vector(profile, 'a', e.embed('a'))).outcome).toBe('miss');

    await cache.vector(profile, 'b', e.embed('b'));
    await cache.vector(profile, 'a', e.embed('a')); // a is now the most recently used
    await cache.vector(profile, 'c', e.embed('c')); // evicts b
    expect(cache.size(profile.name)).toBe(2);
    expect((await cache.vector(profile, 'a', e.embed('a'))).outcome).toBe('hit');
    expect((await cache.vector(profile, 'b', e.embed('b'))).outcome).toBe('miss');
  });

  it('is off with size 0, and never keeps a failed embed', async () => {
    const cache = new QueryCache(db);
    const e = counting();
    const off = profileWith({ size: 0 });
    expect((await cache.vector(off, 'q', e.embed('q'))).outcome).toBe('off');
    expect((await cache.vector(off, 'q', e.embed('q'))).outcome).toBe('off');
    expect(e.calls).toBe(2);

    const on = profileWith({});
    await expect(cache.vector(on, 'boom', () => Promise.reject(new Error('provider down')))).rejects.toThrow(
      'provider down',
    );
    expect((await cache.vector(on, 'boom', e.embed('boom'))).outcome).toBe('miss');
  });
});

describe.each(BACKENDS)('the shared query cache on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
  });
  afterEach(() => db.close());

  it('serves one instance the vector another embedded, exactly, and nothing of another fingerprint or size', async () => {
    const profile = profileWith({ shared: true });
    const a = new QueryCache(db);
    const b = new QueryCache(db);
    const ea = counting();
    const eb = counting();
    const miss = await a.vector(profile, 'blue hat', ea.embed('blue hat'));
    await a.drain();
    const hit = await b.vector(profile, 'blue hat', eb.embed('blue hat'));
    expect(hit.outcome).toBe('shared_hit');
    expect(eb.calls).toBe(0);
    expect(Array.from(hit.vector)).toEqual(Array.from(miss.vector));
    // Kept locally from now on.
    expect((await b.vector(profile, 'blue hat', eb.embed('blue hat'))).outcome).toBe('hit');

    const c = new QueryCache(db);
    expect((await c.vector(profileWith({ shared: true }, 'fp-2'), 'blue hat', counting().embed('x'))).outcome).toBe(
      'miss',
    );
    // A row of other dimensions under the same fingerprint is never served.
    expect((await c.vector(profileWith({ shared: true }, 'fp-1', 8), 'blue hat', counting(8).embed('x'))).outcome).toBe(
      'miss',
    );
  });

  it('ignores rows past the TTL and prunes them, and keeps at most shared_max_rows per fingerprint', async () => {
    const settings = { size: 10, ttl: 60_000, shared: true, shared_max_rows: 3 };
    const profile = profileWith(settings);
    for (let i = 0; i < 5; i++)
      await storeShared(db, 'fp-1', Buffer.from(`hash-${i}`), Float32Array.from([i, 0, 0, 1]));
    await storeShared(db, 'fp-other', Buffer.from('hash-x'), Float32Array.from([1, 0, 0, 1]));
    // Ages: hash-0 two hours old, then one per minute up to hash-4 (now).
    await db.query(
      `UPDATE ${QUERY_CACHE_TABLE} SET created_at = now() - CASE query_sha256
         WHEN $1 THEN interval '2 hours' WHEN $2 THEN interval '40 seconds' WHEN $3 THEN interval '30 seconds'
         WHEN $4 THEN interval '20 seconds' ELSE interval '0 seconds' END`,
      ['hash-0', 'hash-1', 'hash-2', 'hash-3'].map((h) => Buffer.from(h)),
    );
    const removed = await pruneShared(db, 'fp-1', settings);
    expect(removed).toBe(2); // hash-0 (expired), then hash-1 (the oldest of four left, beyond 3)
    const { rows } = await db.query<{ fingerprint: string; n: string }>(
      `SELECT fingerprint, count(*) AS n FROM ${QUERY_CACHE_TABLE} GROUP BY fingerprint ORDER BY fingerprint`,
    );
    expect(rows.map((r) => [r.fingerprint, Number(r.n)])).toEqual([
      ['fp-1', 3],
      ['fp-other', 1],
    ]);
    expect(profile.cache.shared_max_rows).toBe(3);
  });

  it('treats a failing shared table as a miss and says so', async () => {
    const errors: unknown[] = [];
    const cache = new QueryCache(db, { onError: (e) => errors.push(e) });
    await db.query(`DROP TABLE ${QUERY_CACHE_TABLE}`);
    const e = counting();
    const r = await cache.vector(profileWith({ shared: true }), 'q', e.embed('q'));
    await cache.drain();
    expect(r.outcome).toBe('miss');
    expect(e.calls).toBe(1);
    expect(errors.length).toBe(2); // the read, then the write
  });
});

describe.each(BACKENDS)('searches through the query cache on %s', (backend) => {
  let db: Database;
  let provider: FakeProvider;
  beforeAll(async () => {
    provider = await startFakeProvider({ dims: 8 });
  });
  afterAll(() => provider.close());
  beforeEach(async () => {
    db = await openTestDatabase(backend);
  });
  afterEach(() => db.close());

  it('skips the provider on a repeated query, answers the same, and counts hits in the serving metrics', async () => {
    await createArticles(db, 50);
    const manifest = articlesManifest({
      ctrl: { provider: 'ollama', base_url: provider.url, model: 'control', dims: 8 },
    });
    const source = await articlesSource(db, manifest);
    const ctrl = getProfile(manifest, 'ctrl');
    await prepareBackfill(db, source, ctrl, manifest.profiles);
    await runBackfill(db, { source, profiles: [ctrl] });
    const router = await new Router(db, manifest, source, { defaultProfile: 'ctrl', pollMs: 50 }).start();
    try {
      provider.reset();
      const first = await router.search('article 7', { k: 5 });
      const again = await router.search('article 7', { k: 5 });
      const other = await router.search('article 9', { k: 5 });
      expect(provider.requests.length).toBe(2);
      expect(again.hits).toEqual(first.hits);
      expect(other.hits).not.toEqual(first.hits);
      await router.metrics!.flush();
      const summary = await readServingMetrics(db, 'ctrl', { from: new Date(0) });
      expect(summary.cache).toEqual({ hits: 1, sharedHits: 0, misses: 2, hitRate: 1 / 3 });
    } finally {
      await router.close();
    }
  });
});
