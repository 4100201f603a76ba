/**
 * writeIfCurrent on both paths (text and COPY-staged) and both backends: only rows whose
 * source still has the embedded content hash are written (invariant 2), and on PostgreSQL an
 * update that races the write either wins before it or waits for it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { contentHashSql } from '../../src/source/render.js';
import type { Source } from '../../src/source/source.js';
import { writeIfCurrent } from '../../src/store/guarded-write.js';
import { ensureStore, storeLayout } from '../../src/store/store.js';
import { stagesByCopy, type StoredVector } from '../../src/store/write.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { vectorBytes } from '../db/binary.js';

const manifest = articlesManifest();
const profile = getProfile(manifest, 'small'); // 32 dims, template '{title}\n\n{body}'
const ARTICLES = 300;

function unit(i: number): Float32Array {
  const v = new Float32Array(profile.dims);
  v[i % profile.dims] = 1;
  v[(i + 1) % profile.dims] = -0.5 - i / 1000;
  return v;
}

describe.each(BACKENDS)('writeIfCurrent on %s', (backend) => {
  let db: Database;
  let source: Source;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, ARTICLES);
    source = await articlesSource(db, manifest);
    await ensureStore(db, profile);
  });
  afterAll(() => db.close());
  beforeEach(async () => {
    await db.exec(`TRUNCATE ${storeLayout(profile).table}`);
  });

  /** What a worker holds after embedding rows [from, to]: ids, vectors and the hashes it embedded. */
  async function embedded(from: number, to: number): Promise<StoredVector[]> {
    const { rows } = await db.query<{ id: string; hash: string }>(
      `SELECT s.id::text AS id, ${contentHashSql(profile.template!, profile.fingerprint, 's')} AS hash
       FROM public.articles s WHERE s.id BETWEEN $1 AND $2 ORDER BY s.id`,
      [from, to],
    );
    return rows.map((r) => ({ docId: r.id, vector: unit(Number(r.id)), contentHash: r.hash }));
  }

  async function storedIds(): Promise<string[]> {
    const { rows } = await db.query<{ doc_id: string }>(`SELECT doc_id FROM ${storeLayout(profile).table}`);
    return rows.map((r) => r.doc_id).sort();
  }

  for (const [path, from, to] of [
    ['text', 1, 8],
    ['COPY', 1, 250],
  ] as const) {
    it(`${path} path: writes only the rows that are still current and returns their ids`, async () => {
      const rows = await embedded(from, to);
      expect(stagesByCopy(db, rows.length, profile.dims)).toBe(path === 'COPY');
      // After embedding: one row changes, one is deleted; a made-up id never existed.
      const changed = String(from + 1);
      const deleted = String(from + 2);
      await db.query('UPDATE public.articles SET title = title || $2 WHERE id = $1', [Number(changed), ' (edited)']);
      await db.query('DELETE FROM public.articles WHERE id = $1', [Number(deleted)]);
      rows.push({ docId: '999999', vector: unit(5), contentHash: rows[0]!.contentHash });

      const written = await writeIfCurrent(db, source, profile, rows);
      const expected = rows.map((r) => r.docId).filter((id) => ![changed, deleted, '999999'].includes(id));
      expect([...written].sort()).toEqual([...expected].sort());
      expect(await storedIds()).toEqual([...expected].sort());
      const { rows: back } = await db.query<{ b: Uint8Array; content_hash: string }>(
        `SELECT vector_send(embedding) AS b, content_hash FROM ${storeLayout(profile).table} WHERE doc_id = $1`,
        [String(from)],
      );
      expect(Buffer.from(back[0]!.b)).toEqual(vectorBytes(unit(from)));
      expect(back[0]!.content_hash).toBe(rows[0]!.contentHash);

      // Written again once re-embedded: the edited row is current again under its new hash.
      const again = await embedded(Number(changed), Number(changed));
      expect(await writeIfCurrent(db, source, profile, again)).toEqual([changed]);

      // Put the source back for the next test.
      await db.query('UPDATE public.articles SET title = $2 WHERE id = $1', [Number(changed), `Title ${changed}`]);
      await createArticles(db, 1, Number(deleted) - 1);
    });

    it(`${path} path: replaces a stale store row and returns nothing when no row is current`, async () => {
      const rows = await embedded(from, to);
      await writeIfCurrent(
        db,
        source,
        profile,
        rows.map((r) => ({ ...r, vector: unit(0) })),
      );
      expect(await writeIfCurrent(db, source, profile, rows)).toHaveLength(rows.length);
      const { rows: back } = await db.query<{ b: Uint8Array }>(
        `SELECT vector_send(embedding) AS b FROM ${storeLayout(profile).table} WHERE doc_id = $1`,
        [String(to)],
      );
      expect(Buffer.from(back[0]!.b)).toEqual(vectorBytes(unit(to)));
      const stale = rows.map((r) => ({ ...r, contentHash: 'not the hash' }));
      expect(await writeIfCurrent(db, source, profile, stale)).toEqual([]);
    });
  }

  // Only a server has concurrent sessions (PGlite is one connection), so only it gets this test.
  if (backend === 'postgres')
    it('COPY path: an update racing the write waits for its lock or wins, never leaving a stale vector', async () => {
      const rows = await embedded(1, 250);
      expect(stagesByCopy(db, rows.length, profile.dims)).toBe(true);
      // Another session changes row 7 and holds its row lock: the write's FOR SHARE must wait,
      // then see the committed change and skip the row.
      let releaseUpdate!: () => void;
      const updateHeld = new Promise<void>((resolve) => (releaseUpdate = resolve));
      let updateLocked!: () => void;
      const locked = new Promise<void>((resolve) => (updateLocked = resolve));
      const updater = db.transaction(async (tx) => {
        await tx.query("UPDATE public.articles SET body = body || ' (raced)' WHERE id = 7");
        updateLocked();
        await updateHeld;
      });
      await locked;
      const write = writeIfCurrent(db, source, profile, rows);
      // The write is blocked on row 7's lock until the updater commits.
      let blocked = false;
      for (let i = 0; i < 400 && !blocked; i++) {
        const { rows: waiting } = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        );
        blocked = waiting[0]!.n > 0;
        if (!blocked) await new Promise((r) => setTimeout(r, 25));
      }
      releaseUpdate();
      expect(blocked).toBe(true);
      await updater;
      const written = await write;
      expect(written).not.toContain('7');
      expect(written).toHaveLength(rows.length - 1);
      expect(await storedIds()).not.toContain('7');
    });
});
