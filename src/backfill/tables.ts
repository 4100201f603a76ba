import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';

export const BACKFILLS_TABLE = schemaObject('backfills');
export const CHUNKS_TABLE = schemaObject('chunks');
export const FAILURES_TABLE = schemaObject('failures');
export const CONTROL_TABLE = schemaObject('control');
export const WORKERS_TABLE = schemaObject('workers');

/** The backfill's own state: plans, leased chunks, dead letters, live control, worker heartbeats. */
export const backfillMigrations: Migration[] = [
  {
    version: 4,
    name: 'backfill',
    sql: `
      CREATE TABLE ${BACKFILLS_TABLE} (
        profile text PRIMARY KEY,
        planned_at timestamptz NOT NULL DEFAULT now(),
        chunk_size integer NOT NULL,
        chunks integer NOT NULL,
        source_rows bigint NOT NULL,
        filter jsonb
      );
      CREATE TABLE ${CHUNKS_TABLE} (
        profile text NOT NULL,
        chunk_no integer NOT NULL,
        -- the id range (lo, hi] in the source id's own order, as text; NULL is unbounded
        lo text,
        hi text,
        done boolean NOT NULL DEFAULT false,
        attempts integer NOT NULL DEFAULT 0,
        lease_until timestamptz,
        leased_by text,
        PRIMARY KEY (profile, chunk_no)
      );
      CREATE TABLE ${FAILURES_TABLE} (
        profile text NOT NULL,
        doc_id text NOT NULL,
        error_class text NOT NULL,
        message text NOT NULL,
        attempts integer NOT NULL,
        failed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (profile, doc_id)
      );
      CREATE TABLE ${CONTROL_TABLE} (
        profile text PRIMARY KEY,
        paused boolean NOT NULL DEFAULT false,
        rpm integer CHECK (rpm IS NULL OR rpm > 0),
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text
      );
      CREATE TABLE ${WORKERS_TABLE} (
        worker_id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        profiles text[] NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        rows_embedded bigint NOT NULL DEFAULT 0,
        tokens bigint NOT NULL DEFAULT 0,
        rate_limited bigint NOT NULL DEFAULT 0,
        state text NOT NULL DEFAULT 'running'
      );`,
  },
  {
    version: 10,
    name: 'worker-counts-per-profile',
    // A worker serving two profiles counted its rows and 429s once for both: status added one
    // profile's rate limits to the other. Per profile: {"name": {"rows": n, "rateLimited": n}}.
    sql: `ALTER TABLE ${WORKERS_TABLE} ADD COLUMN by_profile jsonb NOT NULL DEFAULT '{}'::jsonb;`,
  },
  {
    version: 13,
    name: 'worker-rss',
    // The resident memory of the worker's process at its last heartbeat (workers of one process share it).
    sql: `ALTER TABLE ${WORKERS_TABLE} ADD COLUMN rss_bytes bigint;`,
  },
];
