/**
 * The facade: `open()` returns one `Reembed` object that does everything the CLI does. The CLI,
 * the demo and the HTTP server are thin shells over it, so a report has one shape everywhere:
 * what a method returns is what `reembed … --json` prints.
 */
import type * as evalHistory from './facade/eval-history.js';
import type * as alertsFacade from './facade/alerts.js';
import type * as rerankFacade from './facade/rerank.js';
import type { AlertReport } from './gates/alerts.js';
import type { Registry } from 'prom-client';
import type { BackfillEstimate } from './backfill/backfill.js';
import type { Coverage } from './backfill/coverage.js';
import { dropFailures, listFailures, retryFailures, type Failure } from './backfill/failures.js';
import type { WorkerStats } from './backfill/worker.js';
import type { ProfileResolution } from './config/environment.js';
import { buildManifest, getProfile, loadManifest, type Manifest } from './config/manifest.js';
import type { Profile } from './config/profile.js';
import type { Database } from './db/database.js';
import { currentVersion } from './db/migrations.js';
import { ReembedError } from './errors.js';
import { Controller, type ControllerOptions } from './gates/controller.js';
import * as lifecycle from './migration/lifecycle.js';
import type { MigrationEvent, MigrationState } from './migration/state.js';
import type { Router, FallbackReason, RouterOptions, SearchRequest, SearchResponse } from './router/router.js';
import type { DocumentInput } from './source/managed.js';
import type { Source } from './source/source.js';
import type { VerifyReport } from './store/verify.js';
import { registerProfileInfo, startupBanner } from './telemetry/profile-labels.js';
import { promClient } from './telemetry/prom-client.js';
import { VERSION } from './version.js';
import type * as backfill from './facade/backfill.js';
import { FacadeCore } from './facade/core.js';
import {
  migrationMethods,
  type BucketReport,
  type MigrationHistoryReport,
  type MigrationStatusReport,
  type MigrationTargetInput,
} from './facade/migration.js';
import * as ops from './facade/operations.js';
import type * as quality from './facade/quality.js';
import { statusReport, type StatusOptions, type StatusReport } from './facade/status.js';

export type { StatusReport, ProfileStatus, StatusOptions, LiveWorker, GoneWorker } from './facade/status.js';
export type { JitSummary } from './backfill/jit.js';
export type {
  BackfillPlanReport,
  BackfillRunReport,
  BackfillRunOptions,
  BackfillControlReport,
  BackfillStatusReport,
  RowFilterInput,
  WorkOptions,
} from './facade/backfill.js';
export type {
  MigrationTarget,
  MigrationTargetInput,
  MigrationStatusReport,
  MigrationHistoryReport,
  BucketReport,
} from './facade/migration.js';
export type {
  ProfileCheckReport,
  ProfileMatrixRow,
  EmbedReport,
  LoadReport,
  LoadOptions,
  DurationInput,
  MetricsReport,
  PruneReport,
  DetachReport,
} from './facade/operations.js';
export type {
  AnnOutcome,
  VerifyOptions,
  VerifyWithAnnReport,
  TuneResult,
  TuneRunOptions,
  EvalResult,
  EvalRunOptions,
} from './facade/quality.js';
export type { EvalCompareOptions, EvalTrendOptions, RunComparisonReport, TrendReport } from './facade/eval-history.js';
export type { AlertEvaluateOptions, AlertHistoryOptions, AlertHistoryReport } from './facade/alerts.js';
export type { RerankStatusReport, RerankTrainOptions, RerankTrainReport } from './facade/rerank.js';
export type { AlertReport, RuleReport } from './gates/alerts.js';
export type { AlertEvent } from './gates/alert-tables.js';

export * from './facade/shell.js';
export { buildManifest } from './config/manifest.js';

export interface OpenOptions {
  /** A manifest file path, a manifest object as the YAML would parse, or a built Manifest. */
  config?: string | Manifest | Record<string, unknown>;
  /** postgres://…, a data directory, or memory:// (else REEMBED_DATABASE_URL, the manifest, .reembed). */
  db?: string;
  env?: NodeJS.ProcessEnv;
  /** Who acts in the audit log and the backfill controls (default `library`). */
  actor?: string;
  /**
   * The serving router. By default `open()` resolves the active profile (refusing a gate
   * violation), opens the database and starts a router that follows the source's migration.
   * With `lazy: true`, or `false`, nothing is opened until a method needs it: the database on
   * first use, the router on the first search, upsert or delete (with these options, or the
   * defaults for `false`). Operations such as status, verify or failures need no router.
   */
  router?: (Partial<RouterOptions> & { lazy?: boolean }) | false;
  /**
   * The prom-client registry the router counts searches in (default: a new one, returned as
   * `registry`); it also gets `reembed_embedding_profile_info`. Pass your application's to
   * serve them from its own /metrics.
   */
  registry?: Registry;
}

/** The profile this process serves, why, and the start-up line that says so. */
export interface ActiveProfile {
  profile: string;
  resolution: ProfileResolution;
  /** `reembed <version> · environment=… · embedding_profile=… (why) · …` */
  banner: string;
}

/** What `reembed failures list` prints. */
export interface FailuresReport {
  total: number;
  failures: Failure[];
}

/** A search request; `filter` may be given as `column=value`. */
export interface ReembedSearchRequest extends Omit<SearchRequest, 'filter'> {
  filter?: SearchRequest['filter'] | string;
}

export type { Failure, Coverage, BackfillEstimate, WorkerStats, MigrationState, MigrationEvent };
export type { SearchResponse, FallbackReason, DocumentInput, ProfileResolution, Manifest, Profile, VerifyReport };

/** `force` skips the readiness check (with a reason); `maxQueueLagMs` overrides rollout.max_queue_lag for this step. */
type ForceOptions = { force?: boolean; reason?: string; maxQueueLagMs?: number };
type ControllerSettings = Omit<ControllerOptions, 'db' | 'manifest' | 'source'>;

/**
 * Everything reembed does, from code. Every report is a plain object (the shape `--json`
 * prints). Methods that need the database open it on first use; `close()` releases it.
 */
export interface Reembed {
  readonly manifest: Manifest;
  /** The active profile by the environment's gating rules (throws ProfileGateError on a violation). */
  readonly activeProfile: string;
  /** Prometheus metrics of this process's searches: `await registry.metrics()` is the text to serve. */
  readonly registry: Registry;
  /** The database target (postgres://…, a directory, memory://). */
  readonly databaseTarget: string;
  /** Low-level handles, once open (throw before): see `reembed/internals` for what to do with them. */
  readonly db: Database;
  readonly source: Source;
  readonly router: Router;

  profiles: {
    /** The manifest's profiles with their fingerprints (`reembed profiles list`). */
    list(): Profile[];
    /** A profile by name; throws ConfigError when unknown or (unless told not to) its API key variable is unset. */
    get(name: string, options?: { checkEnvironment?: boolean }): Profile;
    /** The active profile and the start-up banner (throws ProfileGateError on a violation). */
    active(): ActiveProfile;
    /** The resolved matrix of every environment (`reembed profiles check`). */
    check(environment?: string): ops.ProfileCheckReport;
    /** Embeds one short text with each profile, once, no retries (`reembed profiles check --probe`). */
    probe(options?: { profiles?: string[]; timeoutMs?: number }): Promise<ops.ProbeResult[]>;
    /** Gives up an EMBEDDING_NAMESPACE_MODE=isolated claim (`reembed profiles release`): the environment that held it, or null. */
    release(name: string): Promise<{ profile: string; environment: string | null }>;
  };

  /** Embeds one text with a profile (default: the active one), for debugging it (`reembed embed`). */
  embed(text: string, options?: { profile?: string; query?: boolean }): Promise<ops.EmbedReport>;
  /** Loads a JSON Lines file (`-`: stdin) into the managed source, in one transaction (`reembed load`). */
  load(file: string, options?: ops.LoadOptions): Promise<ops.LoadReport>;

  /** Searches as the serving path does: the profile chosen by the migration and the subject's bucket. */
  search(query: string, request?: ReembedSearchRequest): Promise<SearchResponse>;
  /** Managed mode: writes documents; with `sync`, the serving profile embeds them before returning. */
  upsert(docs: DocumentInput[], options?: { sync?: boolean }): Promise<{ written: number; embedded: number }>;
  /** Managed mode: deletes documents from the source (and, through capture, from every store). */
  delete(ids: string[]): Promise<number>;

  backfill: {
    /** Turns capture on, plans chunks and runs workers in this process until done (`reembed backfill`). */
    run(profile: string, options?: backfill.BackfillRunOptions): Promise<backfill.BackfillRunReport>;
    /** What a run would do, embedding nothing (`reembed backfill --dry-run`). */
    plan(
      profile: string,
      options?: { filter?: backfill.RowFilterInput; chunkSize?: number; limit?: number },
    ): Promise<backfill.BackfillPlanReport>;
    pause(profile: string): Promise<backfill.BackfillControlReport>;
    resume(profile: string): Promise<backfill.BackfillControlReport>;
    /** Requests per minute for all workers together; null removes the throttle. */
    throttle(profile: string, rpm: number | null): Promise<backfill.BackfillControlReport>;
    /** Coverage (counted) and the pause/throttle state (`reembed backfill status`). */
    status(profile: string): Promise<backfill.BackfillStatusReport>;
    coverage(profile: string): Promise<Coverage>;
    /** Workers for the capturing profiles until the signal, or until drained (`reembed worker`). */
    work(options?: backfill.WorkOptions): Promise<WorkerStats[]>;
  };

  failures: {
    list(options?: { profile?: string; limit?: number }): Promise<FailuresReport>;
    /** Puts failed rows back in the queue (attempts reset); returns how many. */
    retry(options?: { profile?: string; ids?: string[] }): Promise<number>;
    /** Forgets failed rows (they stay unembedded); returns how many. */
    drop(options?: { profile?: string; ids?: string[] }): Promise<number>;
  };

  /** Coverage, queue, failures, workers, throttle and index of every profile with a store (`reembed status`). */
  status(options?: StatusOptions): Promise<StatusReport>;
  /** A profile's store against the source, optionally with the ANN check (`reembed verify`). */
  verify(options?: quality.VerifyOptions): Promise<VerifyReport | quality.VerifyWithAnnReport>;
  /** Sweeps HNSW ef_search and writes the choice to the manifest file (`reembed tune`). */
  tune(options?: quality.TuneRunOptions): Promise<quality.TuneResult>;
  /** Offline evaluation on a BEIR dataset, in a throwaway database (`reembed eval`). */
  eval(options: quality.EvalRunOptions): Promise<quality.EvalResult>;
  /** The eval history: two runs compared (`reembed eval compare`), a metric over time (`reembed eval trend`). */
  evalHistory: {
    compare(options?: evalHistory.EvalCompareOptions): Promise<evalHistory.RunComparisonReport>;
    trend(options: evalHistory.EvalTrendOptions): Promise<evalHistory.TrendReport>;
  };

  migration: {
    /** Validates the move to `to` (from the active profile by default), creates its store, estimates. */
    plan(to: string, from?: string): Promise<lifecycle.PlanResult>;
    start(target?: MigrationTargetInput): Promise<MigrationState>;
    shadow(sample: number, target?: MigrationTargetInput): Promise<MigrationState>;
    /** `percent` null keeps the percentage (a segment-only step: `{ segment: 'internal' }`). */
    ramp(
      percent: number | null,
      options?: ForceOptions & { segment?: string },
      target?: MigrationTargetInput,
    ): Promise<MigrationState>;
    cutover(force?: ForceOptions, target?: MigrationTargetInput): Promise<MigrationState>;
    finalize(target?: MigrationTargetInput): Promise<MigrationState>;
    cleanup(olderThanMs: number, target?: MigrationTargetInput): Promise<MigrationState>;
    rollback(
      reason: string,
      options?: { force?: boolean; id?: string; expectVersion?: number },
    ): Promise<MigrationState>;
    abort(reason: string, target?: MigrationTargetInput): Promise<MigrationState>;
    /** The migration (default: the source's newest), or null. */
    status(id?: string): Promise<MigrationState | null>;
    /** Phase, serving share, coverage of both stores and the controller's state (`reembed migrate status`). */
    statusReport(id?: string): Promise<MigrationStatusReport>;
    /** The audit log of the migration (default: the newest). */
    history(id?: string): Promise<MigrationEvent[]>;
    /** The audit log and the controller's decisions (`reembed migrate history`). */
    historyReport(id?: string, options?: { measurements?: boolean }): Promise<MigrationHistoryReport>;
    /** A subject's canary bucket and the profile that serves it now (`reembed migrate bucket`). */
    bucket(subject: string, id?: string): Promise<BucketReport>;
    /** The rollout controller of an already opened facade (see `controller()`). */
    controller(options?: ControllerSettings): Controller;
  };

  /**
   * The rollout controller (`reembed controller`): `run({ signal })` steps the migration by the
   * manifest's gates; `tick()` evaluates once.
   */
  controller(options?: ControllerSettings): Promise<Controller>;

  /** The manifest's alert rules (`alerts:`) and the notifications they sent. */
  alerts: {
    /** Evaluates every rule once and notifies its transitions (`reembed watch --once`); never rolls back. */
    evaluate(options?: alertsFacade.AlertEvaluateOptions): Promise<AlertReport>;
    /** The rules firing now and the newest notifications (`GET /v1/alerts`). */
    history(options?: alertsFacade.AlertHistoryOptions): Promise<alertsFacade.AlertHistoryReport>;
  };

  metrics: {
    /**
     * Serving metrics of every instance per profile over the last `since` (default 1h), or
     * from `since` to `until` (each a duration ago, or a time): a time series is a sequence of these.
     */
    show(options?: {
      since?: ops.DurationInput | Date;
      until?: ops.DurationInput | Date;
      profiles?: string[];
    }): Promise<ops.MetricsReport>;
    /** Deletes serving windows older than `olderThan` (default 30d) not still measured. */
    prune(options?: { olderThan?: ops.DurationInput; dryRun?: boolean }): Promise<ops.PruneReport>;
  };

  /** The profiles' rerank stages: the kill switch every instance follows, and training the features reranker. */
  rerank: {
    /** Each rerank profile's provider, top_n, percent and switch state (`reembed rerank status`). */
    status(): Promise<rerankFacade.RerankStatusReport>;
    /** Switches a profile's stage (default: every profile's) on or off on every instance within a second (`reembed rerank on|off`). */
    set(state: 'on' | 'off', options?: { profile?: string; reason?: string }): Promise<rerankFacade.RerankStatusReport>;
    /** Trains the features reranker on a BEIR dataset's judgments and writes its weights (`reembed rerank train`). */
    train(options: rerankFacade.RerankTrainOptions): Promise<rerankFacade.RerankTrainReport>;
  };

  /** Removes the capture triggers from the source (stores and queue are kept). */
  detach(): Promise<ops.DetachReport>;
  /** Opens the database, bringing reembed's schema up to date, and says its version (`reembed init`). */
  schema(): Promise<{ database: string; schemaVersion: number }>;
  /** Stops the router and closes the database. */
  close(): Promise<void>;
}

// Loaded by the first method that needs them: a command imports only what it uses (backfill
// brings the workers and the providers, quality the evaluation code).
const backfillFacade = () => import('./facade/backfill.js');
const qualityFacade = () => import('./facade/quality.js');

function isManifest(value: unknown): value is Manifest {
  return typeof value === 'object' && value !== null && (value as Manifest).profiles instanceof Map;
}

function notOpen(what: string): never {
  throw new ReembedError('NOT_OPEN', `${what} is not open yet: this facade opens it on first use`, {
    exitCode: 2,
  });
}

/** How long a strict-mode refusal stands before the store is counted again. */
const STRICT_RECHECK_MS = 5000;

/**
 * The library's entry point: everything the CLI does, from code. Loads the manifest and, unless
 * the router is lazy, resolves the active profile by the environment's gating rules, opens the
 * database (bringing the schema up to date) and starts a router that follows the migration.
 */
export async function open(options: OpenOptions = {}): Promise<Reembed> {
  const env = options.env ?? process.env;
  const manifest = isManifest(options.config)
    ? options.config
    : typeof options.config === 'object'
      ? buildManifest(options.config, null)
      : loadManifest(options.config);
  const core = new FacadeCore(manifest, env, options.actor ?? 'library', options.db);
  const routerOptions = options.router === false ? {} : (options.router ?? {});
  const lazy = options.router === false || Boolean(options.router?.lazy);
  let resolution: (ProfileResolution & { active: string }) | null = null;
  if (!lazy) resolution = core.resolution();
  else {
    try {
      resolution = core.resolution();
    } catch {
      // Lazy: a violation is reported by the first method that needs the active profile.
    }
  }
  // Created when first used (the router, or a caller reading it), so that a command that
  // serves no metrics never loads prom-client.
  let registry: Registry | undefined = options.registry;
  const metricsRegistry = (): Registry => {
    if (!registry) {
      const client = promClient();
      registry = new client.Registry();
      // A registry of its own gets the process's figures too (RSS, CPU, heap, event-loop lag);
      // an application's registry (options.registry) keeps whatever it registered itself.
      client.collectDefaultMetrics({ register: registry });
    }
    if (resolution && !registry.getSingleMetric('reembed_embedding_profile_info'))
      registerProfileInfo(registry, resolution);
    return registry;
  };
  if (options.registry) metricsRegistry();

  let router: Router | null = null;
  let starting: Promise<Router> | null = null;
  let strictRefusal: { at: number; error: unknown } | null = null;
  const startRouter = (): Promise<Router> => {
    starting ??= (async () => {
      const db = await core.database();
      const source = await core.source();
      const { lazy: _lazy, ...rest } = routerOptions;
      const resolved = core.resolution();
      if (resolved.namespace === 'isolated') {
        const { requireNamespace } = await import('./facade/namespace.js');
        await requireNamespace(db, resolved, core.actor);
      }
      if (resolved.strict) {
        // A refusal is remembered for a few seconds: requests arriving meanwhile get it again
        // without each counting the whole source table.
        if (strictRefusal && performance.now() - strictRefusal.at < STRICT_RECHECK_MS) throw strictRefusal.error;
        const { requireStrictReady } = await import('./facade/strict.js');
        try {
          await requireStrictReady(db, source, core.profile(resolved.active), manifest);
        } catch (error) {
          strictRefusal = { at: performance.now(), error };
          throw error;
        }
        strictRefusal = null;
      }
      if (env.REEMBED_RERANK) await (await import('./facade/rerank.js')).applyRerankEnvironment(core);
      const { Router } = await import('./router/router.js');
      router = await new Router(db, manifest, source, {
        defaultProfile: core.resolution().active,
        registry: metricsRegistry(),
        ...rest,
      }).start();
      return router;
    })();
    // A failed start (the database down, a gate violation) is tried again by the next call.
    starting.catch(() => (starting = null));
    return starting;
  };
  const connect = async () => ({ db: await core.database(), source: await core.source() });
  const connection = () =>
    core.opened.db && core.opened.source ? { db: core.opened.db, source: core.opened.source } : null;
  if (!lazy) {
    try {
      await startRouter();
    } catch (error) {
      await core.close();
      throw error;
    }
  }

  const makeController = (db: Database, source: Source, opts: ControllerSettings = {}) =>
    new Controller({ db, manifest, source, ...opts });

  const facade: Reembed = {
    manifest,
    get activeProfile() {
      return core.resolution().active;
    },
    get registry() {
      return metricsRegistry();
    },
    get databaseTarget() {
      return core.databaseTarget;
    },
    get db() {
      return core.opened.db ?? notOpen('the database');
    },
    get source() {
      return core.opened.source ?? notOpen('the source');
    },
    get router() {
      return router ?? notOpen('the router');
    },

    profiles: {
      list: () => [...manifest.profiles.values()],
      get: (name, opts) => (opts?.checkEnvironment === false ? getProfile(manifest, name) : core.profile(name)),
      active: () => {
        const r = core.resolution();
        return { profile: r.active, resolution: r, banner: startupBanner(r, VERSION) };
      },
      check: (environment) => ops.checkProfiles(core, environment),
      probe: (opts) => ops.probeProfiles(core, opts),
      release: async (name) => {
        getProfile(manifest, name);
        const { releaseProfile } = await import('./store/namespace.js');
        return { profile: name, environment: await releaseProfile(await core.database(), name) };
      },
    },

    embed: (text, opts) => ops.embedText(core, text, opts),
    load: (file, opts) => ops.load(core, file, opts),

    search: async (query, request = {}) => {
      const r = router ?? (await startRouter());
      const filter =
        typeof request.filter === 'string'
          ? (await backfillFacade()).toFilter(request.filter, await core.source())
          : request.filter;
      return r.search(query, { ...request, filter: filter ?? undefined });
    },
    upsert: async (docs, opts) => (router ?? (await startRouter())).upsert(docs, opts),
    delete: async (ids) => (router ?? (await startRouter())).delete(ids),

    backfill: {
      run: async (name, opts) => (await backfillFacade()).runReport(core, name, opts),
      plan: async (name, opts) => (await backfillFacade()).planReport(core, name, opts),
      pause: async (name) => (await backfillFacade()).controlReport(core, name, { paused: true }),
      resume: async (name) => (await backfillFacade()).controlReport(core, name, { paused: false }),
      throttle: async (name, rpm) => (await backfillFacade()).controlReport(core, name, { rpm }),
      status: async (name) => (await backfillFacade()).statusReport(core, name),
      coverage: async (name) => (await backfillFacade()).coverage(core, name),
      work: async (opts) => (await backfillFacade()).work(core, opts),
    },

    failures: {
      list: async (opts = {}) => listFailures(await core.database(), opts.profile ?? null, opts.limit ?? 50),
      retry: async (opts = {}) => retryFailures(await core.database(), opts.profile ?? null, opts.ids),
      drop: async (opts = {}) => dropFailures(await core.database(), opts.profile ?? null, opts.ids),
    },

    status: (opts) => statusReport(core, opts),
    verify: async (opts) => (await qualityFacade()).verify(core, opts),
    tune: async (opts) => (await qualityFacade()).tune(core, opts),
    eval: async (opts) => (await qualityFacade()).evaluate(core, opts),
    // Loaded when used: no other command pays for the history tools at start-up.
    evalHistory: {
      compare: async (opts) => (await import('./facade/eval-history.js')).evalCompare(opts),
      trend: async (opts) => (await import('./facade/eval-history.js')).evalTrend(opts),
    },

    migration: {
      ...migrationMethods(core),
      controller: (opts) => {
        const c = connection() ?? notOpen('the database');
        return makeController(c.db, c.source, opts);
      },
    },

    controller: async (opts) => {
      const c = await connect();
      return makeController(c.db, c.source, opts);
    },

    alerts: {
      evaluate: async (opts) => (await import('./facade/alerts.js')).evaluate(core, opts),
      history: async (opts) => (await import('./facade/alerts.js')).history(core, opts),
    },

    metrics: {
      show: (opts) => ops.showMetrics(core, opts),
      prune: (opts) => ops.pruneMetrics(core, opts),
    },

    rerank: {
      status: async () => (await import('./facade/rerank.js')).rerankStatus(core),
      set: async (state, opts) => (await import('./facade/rerank.js')).setRerank(core, state, opts),
      train: async (opts) => (await import('./facade/rerank.js')).trainRerank(core, opts),
    },

    detach: () => ops.detach(core),
    schema: async () => {
      const db = await core.database();
      return { database: db.target, schemaVersion: await currentVersion(db) };
    },

    close: async () => {
      const r = router ?? (starting ? await starting.catch(() => null) : null);
      router = null;
      await r?.close();
      await core.close();
    },
  };
  return facade;
}
