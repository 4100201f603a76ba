import type { Migration } from './db/migrations.js';
import { managedSourceMigrations } from './source/managed.js';
import { storeMigrations } from './store/store.js';
import { captureMigrations } from './source/capture.js';
import { backfillMigrations } from './backfill/tables.js';
import { jitMigrations } from './backfill/jit.js';
import { migrationMigrations } from './migration/tables.js';
import { servingMetricsMigrations } from './telemetry/serving-metrics.js';
import { gateMigrations } from './gates/tables.js';
import { controllerLeaseMigrations } from './gates/lease.js';
import { queryCacheMigrations } from './router/query-cache-table.js';
import { alertMigrations } from './gates/alert-tables.js';
import { namespaceMigrations } from './store/namespace.js';
import { renderMigrations } from './source/render.js';
import { rerankMigrations } from './router/rerank-switch.js';

/** Every migration of the reembed schema, in version order; each is owned by its module. */
export const migrations: Migration[] = [
  ...storeMigrations,
  ...managedSourceMigrations,
  ...captureMigrations,
  ...backfillMigrations,
  ...jitMigrations,
  ...migrationMigrations,
  ...servingMetricsMigrations,
  ...gateMigrations,
  ...controllerLeaseMigrations,
  ...queryCacheMigrations,
  ...alertMigrations,
  ...namespaceMigrations,
  ...renderMigrations,
  ...rerankMigrations,
].sort((a, b) => a.version - b.version);
