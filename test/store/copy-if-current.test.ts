/**
 * copyIfCurrent, the bulk guarded write that COPYs straight into a `vector` store, on both
 * backends: what it writes (only rows whose source still has the embedded hash, stale store rows
 * replaced, all or nothing), its fall-back to the upsert when another session wrote one of the
 * rows meanwhile (PostgreSQL: the only backend with concurrent sessions), asynchronous commit
 * scoped to its own transaction, and halfvec stores, which keep the staged upsert.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { contentHashSql } from '../../src/source/render.js';
import type { Source } from '../../src/source/source.js';
import { copyIfCurrent } from '../../src/store/copy-if-current.js';
import { writeIfCurrent } from '../../src/store/guarded-write.js';
import { ensureStore, storeLayout } from '../../src/store/store.js';
import { stagesByCopy, type StoredVector } from '../../src/store/write.js';
import { vectorBytes } from '../db/binary.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const manifest = articlesManifest({ wide: { provider: 'hash', dims: 2100 } });
const profile = getProfile(manifest, 'big'); // 64 dims, template '{body}': a `vector` store
const wide = getProfile(manifest, 'wide'); // over 2,000 dims: a `halfvec` store
const ARTICLES = 120;

function vectorFor(dims: number, i: number, salt = 0): Float32Array {
  const v = new Float32Array(dims);
  v[i % dims] = 1;
  v[(i + 7) % dims] = -0.25 - (i + salt) / 1000;
  return v;
}

describe.each(BACKENDS)('copyIfCurrent on %s', (backend) => {
  let db: Database;
  let source: Source;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, ARTICLES);
    source = await articlesSource(db, manifest);
    await ensureStore(db, profile);
    await ensureStore(db, wide);
  });
  afterAll(() => db.close());
  beforeEach(async () => {
    await db.exec(`TRUNCATE ${storeLayout(profile).table}; TRUNCATE ${storeLayout(wide).table}`);
  });

  /** What a worker holds after embedding rows [from, to]: the hashes the source has now. */
  async function embedded(p: typeof profile, from: number, to: number, salt = 0): Promise<StoredVector[]> {
    const { rows } = await db.query<{ id: string; hash: string }>(
      `SELECT s.id::text AS id, ${contentHashSql(p.template!, p.fingerprint, 's')} AS hash
       FROM public.articles s WHERE s.id BETWEEN $1 AND $2 ORDER BY s.id`,
      [from, to],
    );
    return rows.map((r) => ({ docId: r.id, vector: vectorFor(p.dims, Number(r.id), salt), contentHash: r.hash }));
  }

  async function stored(p: typeof profile): Promise<Map<string, { b: Buffer; hash: string }>> {
    const { table, columnType } = storeLayout(p);
    const { rows } = await db.query<{ doc_id: string; b: Uint8Array; content_hash: string }>(
      `SELECT doc_id, ${columnType}_send(embedding) AS b, content_hash FROM ${table}`,
    );
    return new Map(rows.map((r) => [r.doc_id, { b: Buffer.from(r.b), hash: r.content_hash }]));
  }

  it('writes exactly the rows still current, in the order given, and replaces stale store rows', async () => {
    const rows = await embedded(profile, 1, 100);
    expect(stagesByCopy(db, rows.length, profile.dims)).toBe(true);
    // Rows 1-10 are in the store already with another vector (a stale row being re-embedded).
    expect(await copyIfCurrent(db, source, profile, (await embedded(profile, 1, 10, 500)).reverse())).toEqual(
      Array.from({ length: 10 }, (_, i) => String(10 - i)),
    );
    const { rows: original } = await db.query<{ body: string }>('SELECT body FROM public.articles WHERE id = 5');
    try {
      // After embedding: row 5 changes, row 6 is deleted, and an id that never existed comes along.
      await db.query("UPDATE public.articles SET body = body || ' (edited)' WHERE id = 5");
      await db.query('DELETE FROM public.articles WHERE id = 6');
      rows.push({ docId: '999999', vector: vectorFor(profile.dims, 3), contentHash: rows[0]!.contentHash });

      const written = await copyIfCurrent(db, source, profile, rows);
      const expected = rows.map((r) => r.docId).filter((id) => !['5', '6', '999999'].includes(id));
      expect(written).toEqual(expected);
      const back = await stored(profile);
      // Rows 5 and 6 keep their old vectors: the write never touches a row whose source moved
      // on (the queue re-embeds row 5 and deletes row 6's orphan; see deleteOrphans).
      expect([...back.keys()].sort()).toEqual([...expected, '5', '6'].sort());
      for (const r of rows.filter((r) => expected.includes(r.docId))) {
        expect(back.get(r.docId)!.b).toEqual(vectorBytes(r.vector));
        expect(back.get(r.docId)!.hash).toBe(r.contentHash);
      }
      expect(back.get('5')!.b).toEqual(vectorBytes(vectorFor(profile.dims, 5, 500)));
    } finally {
      await db.query('UPDATE public.articles SET body = $1 WHERE id = 5', [original[0]!.body]);
      await db.query('DELETE FROM public.articles WHERE id = 6');
      await createArticles(db, 1, 5);
    }
  });

  it('writes nothing and returns [] when no row is current', async () => {
    const rows = (await embedded(profile, 1, 50)).map((r) => ({ ...r, contentHash: 'not the hash' }));
    expect(await copyIfCurrent(db, source, profile, rows)).toEqual([]);
    expect((await stored(profile)).size).toBe(0);
  });

  it('asynchronous commit stays inside its own transaction', async () => {
    const rows = await embedded(profile, 1, 100);
    expect(await writeIfCurrent(db, source, profile, rows, { asyncCommit: true })).toHaveLength(100);
    expect((await stored(profile)).size).toBe(100);
    // The write's connection goes back to the pool (the next query's, most likely) with the
    // session's own value: SET LOCAL ended with the transaction.
    const { rows: setting } = await db.query<{ now: string; reset: string }>(
      `SELECT current_setting('synchronous_commit') AS now, reset_val AS reset FROM pg_settings WHERE name = 'synchronous_commit'`,
    );
    expect(setting[0]!.now).toBe(setting[0]!.reset);
  });

  it('a halfvec store keeps the staged upsert and stores every row', async () => {
    const rows = await embedded(wide, 1, 8);
    expect(stagesByCopy(db, rows.length, wide.dims)).toBe(true);
    await db.query("UPDATE public.articles SET title = title || ' (edited)' WHERE id = 3");
    const written = await writeIfCurrent(db, source, wide, rows);
    expect(written.sort()).toEqual(['1', '2', '4', '5', '6', '7', '8']);
    expect((await stored(wide)).size).toBe(7);
    const { rows: back } = await db.query<{ same: boolean }>(
      `SELECT bool_and(embedding = (u.v)::halfvec) AS same FROM ${storeLayout(wide).table} e
       JOIN unnest($1::text[], $2::text[]) AS u(id, v) ON u.id = e.doc_id`,
      [rows.map((r) => r.docId), rows.map((r) => `[${Array.from(r.vector).join(',')}]`)],
    );
    expect(back[0]!.same).toBe(true);
    await db.query("UPDATE public.articles SET title = 'Title 3' WHERE id = 3");
  });

  // Only a server has concurrent sessions (PGlite is one connection), so only it gets this test.
  if (backend === 'postgres')
    it('another session writing one of the rows meanwhile: nothing written, then the upsert writes all', async () => {
      const rows = await embedded(profile, 1, 80);
      expect(stagesByCopy(db, rows.length, profile.dims)).toBe(true);
      const { table } = storeLayout(profile);
      // Another session inserts row 40's store row and holds its transaction open: the COPY
      // must wait on that key, then fail on it once the other session commits.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let inserted!: () => void;
      const insertedRow = new Promise<void>((resolve) => (inserted = resolve));
      const other = db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO ${table} (doc_id, embedding, content_hash, fingerprint) VALUES ('40', $1::vector, $2, $3)`,
          [`[${Array.from(vectorFor(profile.dims, 40, 900)).join(',')}]`, rows[39]!.contentHash, profile.fingerprint],
        );
        inserted();
        await held;
      });
      await insertedRow;
      const copy = copyIfCurrent(db, source, profile, rows);
      let waiting = false;
      for (let i = 0; i < 400 && !waiting; i++) {
        const { rows: w } = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        );
        waiting = w[0]!.n > 0;
        if (!waiting) await new Promise((r) => setTimeout(r, 25));
      }
      release();
      await other;
      expect(waiting).toBe(true);
      expect(await copy).toBeNull();
      // All or nothing: only the other session's row is there.
      expect([...(await stored(profile)).keys()]).toEqual(['40']);

      // writeIfCurrent takes the upsert then, and every row ends up with this batch's vector.
      expect((await writeIfCurrent(db, source, profile, rows)).sort()).toEqual(rows.map((r) => r.docId).sort());
      const back = await stored(profile);
      expect(back.size).toBe(rows.length);
      expect(back.get('40')!.b).toEqual(vectorBytes(rows[39]!.vector));
    });
});
