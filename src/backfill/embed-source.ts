import type { Profile } from '../config/profile.js';
import type { Database, QueryResult } from '../db/database.js';
import type { Embedder } from '../embedders/embedder.js';
import { DOCUMENTS_TABLE } from '../source/managed.js';
import { contentHashSql, renderSql } from '../source/render.js';
import { ensureStore } from '../store/store.js';
import { writeVectors } from '../store/write.js';

export interface EmbedProgress {
  done: number;
  total: number;
  tokens: number;
}

export interface EmbedSourceResult extends EmbedProgress {
  seconds: number;
  truncated: number;
}

/**
 * One process embedding every managed document for a profile, page by page in id order.
 * Text and content hash are rendered in SQL, as workers and triggers will render them.
 * This is the demo's first pass; the leased, resumable, multi-worker backfill supersedes it.
 */
export async function embedSource(
  db: Database,
  profile: Profile,
  embedder: Embedder,
  options: { pageSize?: number; onProgress?: (p: EmbedProgress) => void } = {},
): Promise<EmbedSourceResult> {
  const started = performance.now();
  const pageSize = options.pageSize ?? 256;
  await ensureStore(db, profile);
  const { rows: countRows } = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${DOCUMENTS_TABLE}`);
  const total = Number(countRows[0]?.n ?? 0);
  const text = renderSql(profile.template!, 'd');
  const hash = contentHashSql(profile.template!, profile.fingerprint, 'd');
  let after: string | null = null;
  let done = 0;
  let tokens = 0;
  let truncated = 0;
  for (;;) {
    type Row = { id: string; text: string; hash: string };
    const { rows }: QueryResult<Row> = await db.query<Row>(
      `SELECT d.id, ${text} AS text, ${hash} AS hash FROM ${DOCUMENTS_TABLE} d
       WHERE $1::text IS NULL OR d.id > $1 ORDER BY d.id LIMIT $2`,
      [after, pageSize],
    );
    if (rows.length === 0) break;
    const result = await embedder.embed(
      rows.map((r) => r.text),
      'document',
    );
    await writeVectors(
      db,
      profile,
      rows.map((r, i) => ({ docId: r.id, vector: result.vectors[i]!, contentHash: r.hash })),
    );
    done += rows.length;
    tokens += result.usage.tokens;
    truncated += result.truncated;
    after = rows.at(-1)!.id;
    options.onProgress?.({ done, total: Math.max(total, done), tokens });
  }
  return { done, total: Math.max(total, done), tokens, truncated, seconds: (performance.now() - started) / 1000 };
}
