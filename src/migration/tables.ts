import type { Migration } from '../db/migrations.js';
import { schemaObject } from '../db/identifiers.js';

export const MIGRATIONS_TABLE = schemaObject('migrations');
export const EVENTS_TABLE = schemaObject('migration_events');
/** The channel every transition notifies, so router instances follow within a second. */
export const MIGRATION_CHANNEL = 'reembed_migration';

export const migrationMigrations: Migration[] = [
  {
    version: 5,
    name: 'migration lifecycle',
    sql: `
      CREATE TABLE ${MIGRATIONS_TABLE} (
        id text PRIMARY KEY,
        source text NOT NULL,
        control_profile text NOT NULL,
        candidate_profile text NOT NULL,
        phase text NOT NULL CHECK (phase IN ('planned', 'backfilling', 'shadow', 'canary', 'cutover', 'finalized', 'cleaned', 'rolled_back', 'aborted')),
        percent integer NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
        shadow_sample double precision NOT NULL DEFAULT 0 CHECK (shadow_sample BETWEEN 0 AND 1),
        -- optimistic concurrency: every change bumps it, and a change names the one it read
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        cutover_at timestamptz,
        finalized_at timestamptz,
        CHECK (control_profile <> candidate_profile)
      );
      -- One active migration per source: the database, not the caller, enforces it.
      CREATE UNIQUE INDEX migrations_one_active ON ${MIGRATIONS_TABLE} (source)
        WHERE phase NOT IN ('cleaned', 'rolled_back', 'aborted');
      CREATE TABLE ${EVENTS_TABLE} (
        id bigserial PRIMARY KEY,
        migration_id text NOT NULL REFERENCES ${MIGRATIONS_TABLE} (id) ON DELETE CASCADE,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor text NOT NULL,
        action text NOT NULL,
        from_phase text,
        to_phase text NOT NULL,
        from_percent integer,
        to_percent integer NOT NULL,
        reason text,
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX migration_events_by_migration ON ${EVENTS_TABLE} (migration_id, id);`,
  },
  {
    version: 12,
    name: 'migration targeting',
    // Segments switched on for the candidate and the deny-list (migration/targeting.ts).
    sql: `ALTER TABLE ${MIGRATIONS_TABLE} ADD COLUMN targeting jsonb NOT NULL DEFAULT '{}'::jsonb;`,
  },
];
