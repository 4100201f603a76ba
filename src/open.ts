import { activeProfileName } from './config/environment.js';
import { buildManifest, loadManifest, type Manifest } from './config/manifest.js';
import type { Database } from './db/database.js';
import { openDatabase, resolveDatabaseTarget } from './db/open.js';
import { prepareBackfill, runBackfill, type BackfillRun } from './backfill/backfill.js';
import { setControl } from './backfill/control.js';
import { countCoverage } from './backfill/coverage.js';
import type { WorkerOptions } from './backfill/worker.js';
import * as lifecycle from './migration/lifecycle.js';
import { listEvents } from './migration/state.js';
import { Controller, type ControllerOptions } from './gates/controller.js';
import { Registry } from 'prom-client';
import { registerProfileInfo } from './telemetry/profile-labels.js';
import { Router, type RouterOptions, type SearchRequest, type SearchResponse } from './router/router.js';
import { migrations } from './schema.js';
import type { DocumentInput } from './source/managed.js';
import { resolveSource, type Source } from './source/source.js';
import { backfillPlanner } from './backfill/planner.js';

export interface OpenOptions {
  /** A manifest file path, a manifest object as the YAML would parse, or a built Manifest. */
  config?: string | Manifest | Record<string, unknown>;
  /** postgres://…, a data directory, or memory:// (else REEMBED_DATABASE_URL, the manifest, .reembed). */
  db?: string;
  env?: NodeJS.ProcessEnv;
  /** Who acts in the audit log (default `library`). */
  actor?: string;
  router?: Partial<RouterOptions>;
  /**
   * The prom-client registry the router counts searches in (default: a new one, returned as
   * `registry`); it also gets `reembed_embedding_profile_info`. Pass your application's to
   * serve them from its own /metrics.
   */
  registry?: Registry;
}

function isManifest(value: unknown): value is Manifest {
  return typeof value === 'object' && value !== null && (value as Manifest).profiles instanceof Map;
}

/**
 * The library's entry point: everything the CLI does, from code. Opens the database, brings
 * the schema up to date, resolves the active profile by the environment's gating rules, and
 * starts a router that follows the source's migration.
 */
export async function open(options: OpenOptions = {}) {
  const env = options.env ?? process.env;
  const manifest = isManifest(options.config)
    ? options.config
    : typeof options.config === 'object'
      ? buildManifest(options.config, null)
      : loadManifest(options.config);
  const resolution = activeProfileName(manifest, env);
  const active = resolution.active;
  const registry = options.registry ?? new Registry();
  if (!registry.getSingleMetric('reembed_embedding_profile_info')) registerProfileInfo(registry, resolution);
  const db: Database = await openDatabase(
    resolveDatabaseTarget({ flag: options.db, manifest: manifest.database, env }),
    { migrations },
  );
  try {
    const source: Source = await resolveSource(
      db,
      manifest.source,
      [...manifest.profiles.values()].map((p) => p.template!),
    );
    const router = await new Router(db, manifest, source, {
      defaultProfile: active,
      registry,
      ...options.router,
    }).start();
    const ctx: lifecycle.LifecycleContext = {
      db,
      manifest,
      source,
      actor: options.actor ?? 'library',
      backfill: backfillPlanner,
    };
    const current = (id?: string) => lifecycle.currentMigration(ctx, id);
    const profile = (name: string) => {
      const p = manifest.profiles.get(name);
      if (!p) throw new Error(`unknown profile ${name}`);
      return p;
    };
    return {
      db,
      manifest,
      source,
      activeProfile: active,
      router,
      /** Prometheus metrics of this process's searches: `await registry.metrics()` is the text to serve. */
      registry,
      search: (query: string, request?: SearchRequest): Promise<SearchResponse> => router.search(query, request),
      upsert: (docs: DocumentInput[], opts?: { sync?: boolean }) => router.upsert(docs, opts),
      delete: (ids: string[]) => router.delete(ids),
      migration: {
        plan: (to: string, from = active) => lifecycle.planMigration(ctx, from, to),
        start: async (id?: string) => lifecycle.startMigration(ctx, await current(id)),
        shadow: async (sample: number, id?: string) => lifecycle.shadowMigration(ctx, await current(id), sample),
        ramp: async (percent: number, force?: { force?: boolean; reason?: string }, id?: string) =>
          lifecycle.rampMigration(ctx, await current(id), percent, force),
        cutover: async (force?: { force?: boolean; reason?: string }, id?: string) =>
          lifecycle.cutoverMigration(ctx, await current(id), force),
        finalize: async (id?: string) => lifecycle.finalizeMigration(ctx, await current(id)),
        cleanup: async (olderThanMs: number, id?: string) =>
          lifecycle.cleanupMigration(ctx, await current(id), olderThanMs),
        rollback: async (reason: string, options?: { force?: boolean; id?: string }) =>
          lifecycle.rollbackMigration(ctx, await current(options?.id), reason, options),
        abort: async (reason: string, id?: string) => lifecycle.abortMigration(ctx, await current(id), reason),
        status: (id?: string) => lifecycle.migrationOrLatest(ctx, id),
        history: async (id?: string) => {
          const m = await lifecycle.migrationOrLatest(ctx, id);
          return m ? listEvents(db, m.id) : [];
        },
        /**
         * The rollout controller, to embed in a long-running process: `controller().run({ signal })`
         * steps the migration by the manifest's gates; `tick()` evaluates once.
         */
        controller: (opts: Omit<ControllerOptions, 'db' | 'manifest' | 'source'> = {}) =>
          new Controller({ db, manifest, source, ...opts }),
      },
      backfill: {
        run: async (
          name: string,
          opts: Partial<Omit<WorkerOptions, 'source' | 'profiles'>> & { workers?: number; chunkSize?: number } = {},
        ): Promise<BackfillRun> => {
          await prepareBackfill(db, source, profile(name), manifest.profiles, { chunkSize: opts.chunkSize });
          return runBackfill(db, { ...opts, source, profiles: [profile(name)] });
        },
        pause: (name: string) => setControl(db, name, { paused: true }, options.actor ?? 'library'),
        resume: (name: string) => setControl(db, name, { paused: false }, options.actor ?? 'library'),
        throttle: (name: string, rpm: number | null) => setControl(db, name, { rpm }, options.actor ?? 'library'),
        coverage: (name: string) => countCoverage(db, source, profile(name)),
      },
      close: async () => {
        await router.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}

export type Reembed = Awaited<ReturnType<typeof open>>;
