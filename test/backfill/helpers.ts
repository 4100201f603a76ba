import { prepareBackfill } from '../../src/backfill/backfill.js';
import { buildManifest, getProfile, type Manifest } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import { renderTemplate } from '../../src/config/template.js';
import type { Database } from '../../src/db/database.js';
import { parseVector } from '../../src/db/sql.js';
import { createEmbedder } from '../../src/embedders/create.js';
import { resolveSource, type Source } from '../../src/source/source.js';
import { storeLayout } from '../../src/store/store.js';
import { fakeVector } from '../helpers/fake-provider.js';

/** An attached table `public.articles` with integer ids, a title, a body and an unrelated column. */
export async function createArticles(db: Database, count: number, offset = 0): Promise<void> {
  await db.exec(`CREATE TABLE IF NOT EXISTS public.articles (
    id integer PRIMARY KEY, title text, body text NOT NULL, views integer NOT NULL DEFAULT 0)`);
  if (count > 0) {
    await db.query(
      `INSERT INTO public.articles (id, title, body)
       SELECT i, 'Title ' || i, 'Body of article ' || i || ' about ' || (ARRAY['cats','dogs','fish','birds'])[1 + i % 4]
       FROM generate_series($1::int, $2::int) AS i`,
      [offset + 1, offset + count],
    );
  }
}

export function articlesManifest(
  extraProfiles: Record<string, unknown> = {},
  extraKeys: Record<string, unknown> = {},
): Manifest {
  return buildManifest(
    {
      ...extraKeys,
      source: { table: 'public.articles', id: 'id', text: '{title}\n\n{body}' },
      profiles: {
        small: { provider: 'hash', dims: 32 },
        big: { provider: 'hash', dims: 64, template: '{body}' },
        ...extraProfiles,
      },
      environments: { development: { profile: 'small' } },
    },
    null,
  );
}

export async function articlesSource(db: Database, manifest: Manifest): Promise<Source> {
  return resolveSource(
    db,
    manifest.source,
    [...manifest.profiles.values()].map((p) => p.template!),
  );
}

export { getProfile };

/** The articles table with `rows` rows and a planned backfill of the `small` profile in chunks of 100. */
export async function plannedBackfill(db: Database, rows: number): Promise<{ source: Source; profile: Profile }> {
  await createArticles(db, rows);
  const manifest = articlesManifest();
  const source = await articlesSource(db, manifest);
  const profile = getProfile(manifest, 'small');
  await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
  return { source, profile };
}

/**
 * Checks every store vector against a fresh embedding of its row's current text, and that
 * every source row has exactly one store row and no store row lacks a source row.
 */
export async function expectStoreMatchesSource(
  db: Database,
  source: Source,
  profile: Profile,
  embed: (texts: string[]) => Promise<Float32Array[]> = async (texts) =>
    (await createEmbedder(profile).embed(texts, 'document')).vectors,
): Promise<{ rows: number; mismatched: string[]; missing: string[]; orphans: string[] }> {
  const { rows: srcRows } = await db.query<Record<string, unknown>>(
    `SELECT *, ${source.id}::text AS reembed_test_id FROM ${source.table}`,
  );
  const { rows: stored } = await db.query<{ doc_id: string; embedding: string }>(
    `SELECT doc_id, embedding::text AS embedding FROM ${storeLayout(profile).table}`,
  );
  const byId = new Map(stored.map((r) => [r.doc_id, parseVector(r.embedding)]));
  const mismatched: string[] = [];
  const missing: string[] = [];
  const texts = srcRows.map((r) => renderTemplate(profile.template!, r));
  const fresh = texts.length ? await embed(texts) : [];
  srcRows.forEach((r, i) => {
    const id = String(r.reembed_test_id);
    const v = byId.get(id);
    if (!v) return missing.push(id);
    const f = fresh[i]!;
    if (f.length !== v.length) return mismatched.push(id);
    for (let j = 0; j < f.length; j++) if (Math.abs(f[j]! - v[j]!) > 1e-6) return mismatched.push(id);
  });
  const ids = new Set(srcRows.map((r) => String(r.reembed_test_id)));
  const orphans = stored.filter((r) => !ids.has(r.doc_id)).map((r) => r.doc_id);
  return { rows: stored.length, mismatched, missing, orphans };
}

/** What the fake provider returns for a text, normalized as the profile asks: the expected stored vector. */
export function fakeEmbed(dims: number, normalize = true): (texts: string[]) => Promise<Float32Array[]> {
  return async (texts) =>
    texts.map((t) => {
      const v = fakeVector(t, dims);
      const n = normalize ? Math.hypot(...v) : 1;
      return Float32Array.from(v, (x) => x / n);
    });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The articles table with a `remote` profile that embeds through a fake provider server in
 * Ollama's wire format; `settings` adds or overrides profile keys (snake_case, as in YAML).
 */
export async function remoteArticles(
  db: Database,
  providerUrl: string,
  settings: Record<string, unknown>,
): Promise<{ manifest: Manifest; source: Source; profile: Profile }> {
  const manifest = articlesManifest({
    remote: { provider: 'ollama', base_url: providerUrl, model: 'fake', ...settings },
  });
  return { manifest, source: await articlesSource(db, manifest), profile: getProfile(manifest, 'remote') };
}
