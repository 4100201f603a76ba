import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { runMigrations, type Migration } from '../../src/db/migrations.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { BACKENDS, createServerDatabase, openTestDatabase } from '../helpers/databases.js';

describe.each(BACKENDS)('migrations on %s', (backend) => {
  let db: Database | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  it('creates the reembed schema once; running again is a no-op', async () => {
    db = await openTestDatabase(backend, { migrate: false });
    const first = await runMigrations(db, migrations);
    expect(first.applied.map((m) => m.version)).toEqual(migrations.map((m) => m.version));
    const second = await runMigrations(db, migrations);
    expect(second.applied).toEqual([]);
    expect(second.current).toBe(first.current);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM reembed.schema_migrations');
    expect(rows[0]!.n).toBe(migrations.length);
    const tables = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reembed' ORDER BY 1",
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'alert_events',
      'alert_state',
      'backfills',
      'chunks',
      'control',
      'controller_leases',
      'controller_ticks',
      'documents',
      'failures',
      'gate_measurements',
      'jit_embedded',
      'migration_events',
      'migrations',
      'profile_namespaces',
      'profiles',
      'query_cache',
      'queue',
      'rerank_switch',
      'schema_migrations',
      'serving_metrics',
      'workers',
    ]);
  });

  it('applies only the new migration when one is added, and rolls back a failing one whole', async () => {
    db = await openTestDatabase(backend);
    const extra: Migration = { version: 1000, name: 'extra', sql: 'CREATE TABLE reembed.extra (x int)' };
    const report = await runMigrations(db, [...migrations, extra]);
    expect(report.applied).toEqual([extra]);
    const broken: Migration = {
      version: 1001,
      name: 'broken',
      sql: 'CREATE TABLE reembed.half (x int); SELECT no_such_function()',
    };
    await expect(runMigrations(db, [...migrations, extra, broken])).rejects.toThrow(
      /schema migration failed.*no_such_function/,
    );
    const half = await db.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half'");
    expect(half.rows).toHaveLength(0);
    const { rows } = await db.query<{ v: number }>('SELECT max(version) AS v FROM reembed.schema_migrations');
    expect(rows[0]!.v).toBe(1000);
  });

  it('applies a migration older than the newest applied one when it is missing (a gap)', async () => {
    db = await openTestDatabase(backend, { migrate: false });
    const base: Migration = { version: 2000, name: 'base', sql: 'CREATE SCHEMA IF NOT EXISTS reembed' };
    const later: Migration = { version: 2002, name: 'later', sql: 'CREATE TABLE reembed.later (x int)' };
    const earlier: Migration = { version: 2001, name: 'earlier', sql: 'CREATE TABLE reembed.earlier (x int)' };
    await runMigrations(db, [base, later]);
    const report = await runMigrations(db, [base, earlier, later]);
    expect(report.applied).toEqual([earlier]);
    expect(report.current).toBe(2002);
    const { rows } = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reembed' AND table_name IN ('earlier', 'later') ORDER BY 1",
    );
    expect(rows.map((r) => r.table_name)).toEqual(['earlier', 'later']);
  });

  it('refuses migrations out of order', async () => {
    db = await openTestDatabase(backend, { migrate: false });
    const bad: Migration[] = [
      { version: 2, name: 'b', sql: 'SELECT 1' },
      { version: 1, name: 'a', sql: 'SELECT 1' },
    ];
    await expect(runMigrations(db, bad)).rejects.toThrow(/out of order/);
  });
});

describe('concurrent migrations on postgres', () => {
  it('serializes concurrent runs: every migration is applied exactly once', async () => {
    const server = await createServerDatabase();
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openDatabase(server.url)));
    try {
      const reports = await Promise.all(dbs.map((d) => runMigrations(d, migrations)));
      const appliedCounts = reports.map((r) => r.applied.length).sort();
      expect(appliedCounts).toEqual([0, 0, 0, migrations.length]);
      const { rows } = await dbs[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM reembed.schema_migrations');
      expect(rows[0]!.n).toBe(migrations.length);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
      await server.drop();
    }
  });
});
