import type { Migration } from './db/migrations.js';
import { managedSourceMigrations } from './source/managed.js';
import { storeMigrations } from './store/store.js';

/** Every migration of the reembed schema, in version order; each is owned by its module. */
export const migrations: Migration[] = [...storeMigrations, ...managedSourceMigrations].sort(
  (a, b) => a.version - b.version,
);
