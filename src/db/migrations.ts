import { DatabaseError } from '../errors.js';
import type { Database, Queryable } from './database.js';
import { SCHEMA } from './identifiers.js';

/**
 * One versioned change to the reembed schema. The SQL lives beside the code that owns the
 * table (source/, store/, backfill/ …); src/schema.ts lists them all in order.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Any stable number: the advisory lock that serializes concurrent migration runs. */
const MIGRATION_LOCK_KEY = 7_146_290_331;

export interface MigrationReport {
  applied: Migration[];
  current: number;
}

function checkOrder(migrations: Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new Error(`migrations out of order at version ${migrations[i]!.version}`);
    }
  }
}

/**
 * Applies the migrations this database lacks, in one transaction, under a transaction-scoped
 * advisory lock: two processes starting at once on a server apply each migration exactly once
 * (the second waits, then finds nothing to do). Running it again is a no-op.
 */
export async function runMigrations(db: Database, migrations: Migration[]): Promise<MigrationReport> {
  checkOrder(migrations);
  try {
    return await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const ext = await tx.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'");
      if (ext.rows.length === 0) await tx.exec('CREATE EXTENSION vector');
      await tx.exec(`
        CREATE SCHEMA IF NOT EXISTS ${SCHEMA};
        CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        );`);
      const current = await currentVersion(tx);
      // Every version not applied yet, not only those above the newest applied: a database made
      // by a build that had a later migration but not an earlier one still gets the earlier one.
      const { rows: done } = await tx.query<{ version: number }>(`SELECT version FROM ${SCHEMA}.schema_migrations`);
      const applied = new Set(done.map((r) => Number(r.version)));
      const pending = migrations.filter((m) => !applied.has(m.version));
      for (const migration of pending) {
        await tx.exec(migration.sql);
        await tx.query(`INSERT INTO ${SCHEMA}.schema_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
      }
      return { applied: pending, current: Math.max(current, ...pending.map((m) => m.version)) };
    });
  } catch (error) {
    throw new DatabaseError(`schema migration failed on ${db.target}: ${(error as Error).message}`, error);
  }
}

export async function currentVersion(conn: Queryable): Promise<number> {
  const { rows } = await conn.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${SCHEMA}.schema_migrations`);
  return rows[0]?.v ?? 0;
}
