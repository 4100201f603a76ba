/**
 * The image column of a profile, in SQL on both databases: its type is checked when the source
 * is resolved, and reembed.image_key hashes bytea by its bytes and text by its text.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import type { Database } from '../../src/db/database.js';
import { ConfigError } from '../../src/errors.js';
import { resolveSource } from '../../src/source/source.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe.each(BACKENDS)('image columns on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await db.exec(
      `CREATE TABLE public.fonts (id integer PRIMARY KEY, name text, glyph bytea, url varchar(200), size integer)`,
    );
  });
  afterEach(() => db.close());

  const config = { table: 'public.fonts', id: 'id', text: '{name}' };

  it('accepts bytea and text image columns and refuses others with a ConfigError', async () => {
    await expect(resolveSource(db, config, ['{glyph}', '{url}'], ['glyph', 'url'])).resolves.toMatchObject({
      kind: 'attach',
    });
    const refused = resolveSource(db, config, ['{size}'], ['size']);
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(/image column "size" of public\.fonts has type integer/);
  });

  it('keys bytea by the sha256 of its bytes and text by its text', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await db.query(`INSERT INTO public.fonts (id, glyph, url) VALUES (1, $1, 'https://example.invalid/a.png')`, [
      bytes,
    ]);
    const { rows } = await db.query<{ glyph: string; url: string; none: string | null }>(
      `SELECT encode(reembed.image_key(glyph), 'hex') AS glyph, convert_from(reembed.image_key(url), 'UTF8') AS url,
              reembed.image_key(NULL::bytea) AS none FROM public.fonts`,
    );
    expect(rows[0]).toEqual({
      glyph: createHash('sha256').update(bytes).digest('hex'),
      url: 'https://example.invalid/a.png',
      none: null,
    });
  });
});
