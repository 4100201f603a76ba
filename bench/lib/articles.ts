/**
 * The source the backfill benchmarks embed: the test suite's attach-mode table public.articles
 * (integer id, title, body, an unrelated column), filled with generate_series in SQL, and a
 * manifest with hash profiles over it. Profiles that differ only in name share a fingerprint,
 * so a COPY into one profile's store carries exactly the content hashes a backfill of another
 * computes, and both can be checked with the same countCoverage.
 */
import { buildManifest, getProfile, type Manifest } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database, Queryable } from '../../src/db/database.js';
import { contentHashSql, renderSql } from '../../src/source/render.js';
import { resolveSource, type Source } from '../../src/source/source.js';
import { createArticles } from '../../test/backfill/helpers.js';

export const ARTICLES_SOURCE = { table: 'public.articles', id: 'id', text: '{title}\n\n{body}' } as const;

/**
 * Creates public.articles with `rows` rows, then VACUUM ANALYZE: a table that has been in
 * production has statistics and set hint bits, and the first scan of a fresh one would
 * otherwise pay for writing them on the benchmark's clock.
 */
export async function createSourceTable(db: Database, rows: number): Promise<void> {
  await createArticles(db, rows);
  await db.exec('VACUUM ANALYZE public.articles');
}

/** A manifest over public.articles with the given profiles (snake_case settings, as in YAML). */
export function articlesManifest(profiles: Record<string, Record<string, unknown>>): Manifest {
  return buildManifest({ source: ARTICLES_SOURCE, profiles }, null);
}

export async function articlesSource(db: Queryable, manifest: Manifest): Promise<Source> {
  return resolveSource(
    db,
    manifest.source,
    [...manifest.profiles.values()].map((p) => p.template!),
  );
}

export { getProfile };

export interface SourceRows {
  ids: string[];
  texts: string[];
  /** The content hashes the database computes for the profile (same SQL as the workers). */
  hashes: string[];
}

/** Every source row's id, rendered text and content hash for a profile, in id order (off the clock). */
export async function readSourceRows(conn: Queryable, source: Source, profile: Profile): Promise<SourceRows> {
  const { rows } = await conn.query<{ id: string; text: string; hash: string }>(
    `SELECT s.${source.id}::text AS id, ${renderSql(profile.template!, 's')} AS text,
            ${contentHashSql(profile.template!, profile.fingerprint, 's')} AS hash
     FROM ${source.table} s ORDER BY s.${source.id}`,
  );
  return { ids: rows.map((r) => r.id), texts: rows.map((r) => r.text), hashes: rows.map((r) => r.hash) };
}
