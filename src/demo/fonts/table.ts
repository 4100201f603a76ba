import type { Queryable } from '../../db/database.js';
import type { FontRecord } from './catalogue.js';

/** Rows per INSERT: 7 parameters each, far under PostgreSQL's 65,535. */
const BATCH = 500;

/** A font and its glyph image, as a row of the story's source table. */
export interface FontRow {
  font: Pick<FontRecord, 'id' | 'name' | 'family' | 'style' | 'category' | 'tags'>;
  glyph: Uint8Array;
}

/** Creates the table if needed; returns how many rows it already holds. */
export async function createFontTable(db: Queryable, table: string): Promise<number> {
  await db.exec(
    `CREATE TABLE IF NOT EXISTS ${table} (
       id text PRIMARY KEY,
       name text NOT NULL,
       family text NOT NULL,
       style text NOT NULL,
       category text NOT NULL,
       tags text NOT NULL,
       glyph bytea NOT NULL
     )`,
  );
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]!.n;
}

/** Inserts or replaces fonts, a batch per statement. */
export async function writeFonts(db: Queryable, table: string, rows: readonly FontRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    const params: unknown[] = [];
    const values = batch.map(({ font, glyph }) => {
      const at = params.length;
      params.push(font.id, font.name, font.family, font.style, font.category, font.tags, glyph);
      return `(${Array.from({ length: 7 }, (_, k) => `$${at + k + 1}`).join(', ')})`;
    });
    await db.query(
      `INSERT INTO ${table} (id, name, family, style, category, tags, glyph) VALUES ${values.join(', ')}
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, family = EXCLUDED.family, style = EXCLUDED.style,
         category = EXCLUDED.category, tags = EXCLUDED.tags, glyph = EXCLUDED.glyph`,
      params,
    );
  }
}
