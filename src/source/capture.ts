import { createHash } from 'node:crypto';
import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { quoteIdentifier, SCHEMA, schemaObject, type SqlIdent } from '../db/identifiers.js';
import { dollarTag, quoteLiteral } from '../db/sql.js';
import { templateColumns } from '../config/template.js';
import { profileTemplates } from '../config/profile.js';
import { inputsChangedSql } from './render.js';
import type { Source } from './source.js';
import { ConfigError } from '../errors.js';
import { capturingProfiles, setProfileCapture } from '../store/registry.js';

/** Changed ids waiting to be (re-)embedded or deleted, one row per profile and document. */
export const QUEUE_TABLE = schemaObject('queue');

export const captureMigrations: Migration[] = [
  {
    version: 3,
    name: 'capture queue',
    sql: `
      ALTER TABLE ${SCHEMA}.profiles ADD COLUMN capture boolean NOT NULL DEFAULT false;
      CREATE TABLE ${QUEUE_TABLE} (
        profile text NOT NULL,
        doc_id text NOT NULL,
        -- higher first: 0 live change, 10 a request to embed now (hot documents)
        priority smallint NOT NULL DEFAULT 0,
        -- bumped on every enqueue, so a worker deletes only the version it processed
        version bigint NOT NULL DEFAULT 1,
        enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        not_before timestamptz NOT NULL DEFAULT clock_timestamp(),
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        lease_until timestamptz,
        leased_by text,
        PRIMARY KEY (profile, doc_id)
      );
      CREATE INDEX queue_ready ON ${QUEUE_TABLE} (profile, priority DESC, enqueued_at);`,
  },
];

/** The SQL that enqueues one id for one profile (used by triggers and by workers). */
function enqueueSql(profile: string, idExpression: string): string {
  return `INSERT INTO ${QUEUE_TABLE} AS q (profile, doc_id) VALUES (${quoteLiteral(profile)}, (${idExpression})::text)
      ON CONFLICT (profile, doc_id) DO UPDATE
        SET version = q.version + 1, attempts = 0, not_before = clock_timestamp(), enqueued_at = clock_timestamp(), last_error = NULL;`;
}

function names(source: Source): { fn: SqlIdent; truncateFn: SqlIdent } {
  const key = createHash('sha256').update(`${source.schemaName}.${source.tableName}`).digest('hex').slice(0, 12);
  return { fn: schemaObject(`capture_${key}`), truncateFn: schemaObject(`capture_truncate_${key}`) };
}

const TRIGGER = 'reembed_capture';
const TRUNCATE_TRIGGER = 'reembed_capture_truncate';

/**
 * Installs (or replaces) the capture triggers of a source for the given profiles:
 * inserts and deletes always enqueue; an update enqueues for a profile only when the text it
 * renders, its image column or image version (or the id) changed, and the trigger fires only
 * on updates of the columns the profiles read. TRUNCATE empties the profiles' stores in the same transaction, so deletes
 * always propagate. With no profiles, the triggers are removed.
 */
export async function installCapture(conn: Queryable, source: Source, profiles: Profile[]): Promise<void> {
  if (profiles.length === 0) return removeCapture(conn, source);
  const { fn, truncateFn } = names(source);
  const id = source.id;
  const columns = new Set<string>([source.idColumn]);
  for (const p of profiles) for (const t of profileTemplates(p)) for (const c of templateColumns(t)) columns.add(c);
  const onInsertOrDelete = (row: 'new' | 'old') =>
    profiles.map((p) => enqueueSql(p.name, `${row}.${id}`)).join('\n      ');
  const onUpdate = profiles
    .map(
      (p) => `IF new.${id} IS DISTINCT FROM old.${id} OR ${inputsChangedSql(p)} THEN
        ${enqueueSql(p.name, `new.${id}`)}
        IF new.${id} IS DISTINCT FROM old.${id} THEN ${enqueueSql(p.name, `old.${id}`)} END IF;
      END IF;`,
    )
    .join('\n      ');
  const rowBody = `
    BEGIN
      IF TG_OP = 'INSERT' THEN
      ${onInsertOrDelete('new')}
      ELSIF TG_OP = 'DELETE' THEN
      ${onInsertOrDelete('old')}
      ELSE
      ${onUpdate}
      END IF;
      RETURN NULL;
    END`;
  // TRUNCATE empties every registered store, capturing or not: a store of a profile that is
  // not capturing now must not keep documents that no longer exist.
  const truncateBody = `
    DECLARE r record;
    BEGIN
      FOR r IN SELECT store_table FROM ${SCHEMA}.profiles LOOP
        EXECUTE 'DELETE FROM ' || r.store_table;
      END LOOP;
      DELETE FROM ${QUEUE_TABLE};
      RETURN NULL;
    END`;
  // Template literals end up in the body: the dollar-quote tag must not occur in it.
  const rowTag = dollarTag(rowBody);
  const truncateTag = dollarTag(truncateBody);
  await conn.exec(`
    CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${rowTag}${rowBody}
    ${rowTag};
    CREATE OR REPLACE FUNCTION ${truncateFn}() RETURNS trigger LANGUAGE plpgsql AS ${truncateTag}${truncateBody}
    ${truncateTag};
    DROP TRIGGER IF EXISTS ${TRIGGER} ON ${source.table};
    DROP TRIGGER IF EXISTS ${TRUNCATE_TRIGGER} ON ${source.table};
    CREATE TRIGGER ${TRIGGER} AFTER INSERT OR DELETE OR UPDATE OF ${[...columns].map((c) => quoteIdentifier(c)).join(', ')}
      ON ${source.table} FOR EACH ROW EXECUTE FUNCTION ${fn}();
    CREATE TRIGGER ${TRUNCATE_TRIGGER} AFTER TRUNCATE ON ${source.table} FOR EACH STATEMENT EXECUTE FUNCTION ${truncateFn}();`);
}

/** Removes the capture triggers and their functions: the source table is as it was. */
export async function removeCapture(conn: Queryable, source: Source): Promise<void> {
  const { fn, truncateFn } = names(source);
  await conn.exec(`
    DROP TRIGGER IF EXISTS ${TRIGGER} ON ${source.table};
    DROP TRIGGER IF EXISTS ${TRUNCATE_TRIGGER} ON ${source.table};
    DROP FUNCTION IF EXISTS ${fn}();
    DROP FUNCTION IF EXISTS ${truncateFn}();`);
}

/** Whether capture triggers are installed on the source. */
export async function captureInstalled(conn: Queryable, source: Source): Promise<boolean> {
  const { rows } = await conn.query(
    `SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname = $3`,
    [source.schemaName, source.tableName, TRIGGER],
  );
  return rows.length > 0;
}

/**
 * Enqueues ids for a profile from application code (hot documents). A request only raises an
 * item's priority: it never resets the attempts or backoff of an item that is failing, so a
 * popular document that cannot be embedded does not jump ahead of everything, again and again.
 */
/**
 * SQL that holds when a live change of `docId` (an SQL expression of the id as text) is queued
 * for the profile, enqueued at most `lagMs` milliseconds ago. The arguments are SQL placeholders
 * or expressions; the caller binds the values.
 */
export function queuedWithinSql(profile: string, docId: string, lagMs: string): string {
  return `EXISTS (SELECT 1 FROM ${QUEUE_TABLE} AS q WHERE q.profile = ${profile} AND q.doc_id = ${docId}
       AND q.enqueued_at >= clock_timestamp() - ${lagMs} * interval '1 millisecond')`;
}

export async function enqueue(conn: Queryable, profile: string, ids: string[], priority = 0): Promise<void> {
  if (ids.length === 0) return;
  await conn.query(
    `INSERT INTO ${QUEUE_TABLE} AS q (profile, doc_id, priority) SELECT $1, unnest($2::text[]), $3
     ON CONFLICT (profile, doc_id) DO UPDATE SET priority = greatest(q.priority, excluded.priority)`,
    [profile, ids, priority],
  );
}

/**
 * Turns capture on or off for profiles and reinstalls the source's triggers for the resulting
 * set, in the caller's transaction, under a lock: two reinstalls at once would otherwise each
 * read the set before the other's change and the last one could drop a capturing profile.
 */
export async function setCapture(
  tx: Queryable,
  source: Source,
  known: Map<string, Profile>,
  changes: Record<string, boolean>,
): Promise<string[]> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['reembed.capture']);
  for (const [name, on] of Object.entries(changes)) await setProfileCapture(tx, name, on);
  const capturing = await capturingProfiles(tx);
  const unknown = capturing.filter((name) => !known.has(name));
  if (unknown.length) {
    throw new ConfigError(
      `profile(s) ${unknown.join(', ')} capture changes in the database but are not in the manifest: add them back, or turn their capture off first`,
    );
  }
  await installCapture(
    tx,
    source,
    capturing.map((name) => known.get(name)!),
  );
  return capturing;
}

/** Queued items per profile (what `reembed status` shows as queued). */
export async function queuedByProfile(conn: Queryable): Promise<Map<string, number>> {
  const { rows } = await conn.query<{ profile: string; n: string | number }>(
    `SELECT profile, count(*) AS n FROM ${QUEUE_TABLE} GROUP BY profile`,
  );
  return new Map(rows.map((r) => [r.profile, Number(r.n)]));
}
