/**
 * A profile with an image input reads its rows' images with each page: its pages stay at most
 * IMAGE_PAGE_ROWS rows whatever the page size, so a worker's memory is bounded by images (up to
 * image.max_bytes each), not by rows. A text profile keeps the page size.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { IMAGE_PAGE_ROWS } from '../../src/backfill/worker.js';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { resolveSource } from '../../src/source/source.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { glyphImage } from '../helpers/images.js';

const ROWS = IMAGE_PAGE_ROWS * 2 + 10;

describe.each(BACKENDS)('pages of an image profile on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await db.exec('CREATE TABLE public.glyphs (id integer PRIMARY KEY, name text NOT NULL, glyph bytea)');
    await db.query(`INSERT INTO public.glyphs SELECT i, 'glyph ' || i, $1 FROM generate_series(1, $2::int) AS i`, [
      glyphImage('Aa', { width: 48, height: 24 }),
      ROWS,
    ]);
  });
  afterEach(() => db.close());

  it('embeds at most IMAGE_PAGE_ROWS rows per page with an image input, the page size without', async () => {
    const manifest = buildManifest(
      {
        source: { table: 'public.glyphs', id: 'id', text: '{name}' },
        profiles: {
          images: { provider: 'hash-image', dims: 16, input: { text: '{name}', image: '{glyph}' } },
          names: { provider: 'hash', dims: 16 },
        },
      },
      null,
    );
    const source = await resolveSource(db, manifest.source, ['{name}']);
    const pages = async (name: string): Promise<number[]> => {
      const profile = getProfile(manifest, name);
      await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 10_000 });
      const sizes: number[] = [];
      let seen = 0;
      const run = await runBackfill(db, {
        source,
        profiles: [profile],
        pageSize: 1000,
        onProgress: (s) => {
          sizes.push(s.rowsEmbedded - seen);
          seen = s.rowsEmbedded;
        },
      });
      expect(run.coverage).toMatchObject({ sourceRows: ROWS, current: ROWS });
      return sizes.filter((n) => n > 0);
    };
    const images = await pages('images');
    expect(images.reduce((a, b) => a + b, 0)).toBe(ROWS);
    expect(Math.max(...images)).toBe(IMAGE_PAGE_ROWS);
    expect(await pages('names')).toEqual([ROWS]);
  });
});
