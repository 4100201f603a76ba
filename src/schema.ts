import type { Migration } from './db/migrations.js';
import { managedSourceMigrations } from './source/managed.js';
import { storeMigrations } from './store/store.js';
import { captureMigrations } from './source/capture.js';
import { backfillMigrations } from './backfill/tables.js';
import { migrationMigrations } from './migration/tables.js';

/** Every migration of the reembed schema, in version order; each is owned by its module. */
export const migrations: Migration[] = [
  ...storeMigrations,
  ...managedSourceMigrations,
  ...captureMigrations,
  ...backfillMigrations,
  ...migrationMigrations,
].sort((a, b) => a.version - b.version);
