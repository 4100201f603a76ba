/**
 * Managed mode's writes through the router: documents go to the source, and capture fans them
 * out to every capturing profile's store. In attach mode the application writes its own table.
 */
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import type { Embedder } from '../embedders/embedder.js';
import { ConfigError } from '../errors.js';
import { staleByIds } from '../backfill/candidates.js';
import { warnAndContinue } from '../logger.js';
import { checkDocumentInput } from '../source/document-shapes.js';
import { upsertDocuments, type DocumentInput } from '../source/managed.js';
import { InvalidRequestError } from './request.js';
import type { Source } from '../source/source.js';
import { deleteOrphans, writeIfCurrent } from '../store/guarded-write.js';
import { ensureStore } from '../store/store.js';

function requireManaged(source: Source, what: string): void {
  if (source.kind !== 'managed') {
    throw new ConfigError(
      `${what} writes to reembed's managed documents; in attach mode write to your table, and capture does the rest`,
    );
  }
}

/** Per database, the profiles (by name and fingerprint: stores are per name) whose store this process has made sure of. */
const storesEnsured = new WeakMap<Database, Set<string>>();

/**
 * With `sync`, `serving` embeds the documents before returning (through the content-hash guard),
 * so a new document is searchable on return; the other profiles catch up through the queue.
 */
export async function upsertManaged(
  db: Database,
  source: Source,
  docs: DocumentInput[],
  sync: { profile: Profile; embedder: Embedder } | null,
): Promise<{ written: number; embedded: number }> {
  requireManaged(source, 'upsert');
  // Everything is checked before anything is written: a refused batch leaves the source as it was.
  docs.forEach((doc, i) => {
    try {
      checkDocumentInput(doc);
    } catch (error) {
      throw new InvalidRequestError(`document ${i}: ${(error as Error).message}`, { cause: error });
    }
    if (sync && doc.content.trim() === '')
      throw new InvalidRequestError(
        `document ${i} (${JSON.stringify(doc.id)}): the text is empty, so it cannot be embedded`,
      );
  });
  // A fresh database has no store for the serving profile until a backfill: make it here, once;
  // a store of another configuration refuses the batch before anything is written.
  if (sync && docs.length) {
    let ensured = storesEnsured.get(db);
    if (!ensured) storesEnsured.set(db, (ensured = new Set()));
    const key = `${sync.profile.name}\u0000${sync.profile.fingerprint}`;
    if (!ensured.has(key)) {
      await ensureStore(db, sync.profile);
      ensured.add(key);
    }
  }
  const written = await upsertDocuments(db, docs);
  let embedded = 0;
  if (sync && docs.length) {
    const { stale } = await staleByIds(
      db,
      source,
      sync.profile,
      docs.map((d) => d.id),
    );
    if (stale.length) {
      const { vectors } = await sync.embedder.embed(
        stale.map((c) => c.text),
        'document',
      );
      embedded = (
        await writeIfCurrent(
          db,
          source,
          sync.profile,
          stale.map((c, i) => ({ docId: c.docId, vector: vectors[i]!, contentHash: c.contentHash })),
        )
      ).length;
    }
  }
  return { written, embedded };
}

/** Deletes from the source; capture removes them from capturing stores, and `profiles`' stores are cleaned too. */
export async function deleteManaged(db: Database, source: Source, ids: string[], profiles: Profile[]): Promise<number> {
  requireManaged(source, 'delete');
  const { rowCount } = await db.query(`DELETE FROM ${source.table} WHERE id = ANY($1::text[])`, [ids]);
  // Stores of profiles that do not capture (none yet) still must not keep the documents.
  for (const p of profiles)
    await deleteOrphans(db, source, p, ids).catch(
      warnAndContinue('removing deleted documents from a store', { profile: p.name, documents: ids.length }),
    );
  return rowCount;
}
