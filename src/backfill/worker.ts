import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { imageRefOf, type Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { backoffDelay } from '../backoff.js';
import { isTransientDatabaseError } from '../db/transient.js';
import { createEmbedder, type CreateEmbedderOptions } from '../embedders/create.js';
import type { Embedder } from '../embedders/embedder.js';
import { RateLimitedError } from '../embedders/errors.js';
import { sleepUnlessAborted } from '../embedders/sleep.js';
import { JIT_PRIORITY } from '../source/capture.js';
import type { Source } from '../source/source.js';
import { deleteOrphans } from '../store/guarded-write.js';
import { ensureStore } from '../store/store.js';
import { staleByIds, staleInRange } from './candidates.js';
import { liveWorkers, readControl, type ControlState } from './control.js';
import { embedRows, type EmbedRowsContext, type EmbedRowsResult } from './embed-rows.js';
import {
  completeChunk,
  completeQueueItems,
  leaseChunk,
  leaseQueueItems,
  pendingWork,
  releaseLeases,
  renewLeases,
  type Chunk,
  type QueueItem,
} from './lease.js';
import { indexIfDue, type IndexEvent } from './index-when-complete.js';
import { loadFilter } from './plan.js';
import { RowBudget } from './row-budget.js';
import { WORKERS_TABLE } from './tables.js';
import { createThrottles, type ProfileThrottle } from './throttle.js';
import { warnAndContinue } from '../logger.js';

/**
 * Rows per page when none is given. A page costs about eight round trips whatever its size
 * (candidate SELECT, the guarded write's transaction and COPY, clearing failures), so on a
 * server the page size sets how much of the time goes to waiting: 256 → 1,000 rows took a
 * 384-dim backfill from about 21,000 to 36,000 rows/s. The provider still gets `batch_size`
 * inputs per request. Measured: BENCHMARKS.md (`backfill`).
 */
export const DEFAULT_PAGE_SIZE = 1000;
/** Rows per page at most for a profile with an image input (see Worker.pageRows). */
export const IMAGE_PAGE_ROWS = 64;

export interface WorkerOptions {
  source: Source;
  profiles: Profile[];
  workerId?: string;
  /** How long a lease lasts without a heartbeat; a killed worker's work is free again after it. */
  leaseSeconds?: number;
  /** Rows per page of a chunk and queue items per lease (default DEFAULT_PAGE_SIZE). */
  pageSize?: number;
  /**
   * Pages of a chunk in flight at once: the next pages are read and sent to the provider while
   * earlier ones wait for their vectors or are written, so the provider's latency does not
   * serialize the database work. Default: enough pages to keep the profile's `concurrency`
   * requests busy, plus one (at least 2). 1 processes page after page. With `limit` set it is
   * 1, so that a run stops at the limit and not a page beyond.
   */
  pipelineDepth?: number;
  /**
   * How often a worker inside a chunk looks for just-in-time requests of the chunk's profile
   * (searches waiting for a document) and embeds them before its next page (default 1000 ms;
   * 0: before every page). Other queue items wait for the chunk's end.
   */
  urgentCheckMs?: number;
  /** Attempts per row before it goes to the failures table. */
  maxAttempts?: number;
  /** First retry delay of a failed row (doubles per attempt, with jitter). */
  retryBaseMs?: number;
  /** `drain` returns when no work is left; `forever` keeps serving the queue (reembed worker). */
  mode?: 'drain' | 'forever';
  /** Stop after embedding this many rows (this worker's own budget, unless `budget` is given). */
  limit?: number;
  /** One `--limit` shared by the workers of a process (runBackfill makes it from `limit`). */
  budget?: RowBudget;
  signal?: AbortSignal;
  /** How often pause/throttle are read from the database (default 250 ms: obeyed within 1 s). */
  controlPollMs?: number;
  idlePollMs?: number;
  embedderOptions?: CreateEmbedderOptions;
  /** Rate limits shared by the workers of one process (runBackfill and `reembed worker` share them). */
  throttles?: Map<string, ProfileThrottle>;
  onProgress?: (stats: WorkerStats) => void;
  /**
   * How long transient database errors in a row are retried before the worker fails
   * (default 2 minutes: a server restart or a failover).
   */
  transientRetryMs?: number;
  /** Called before each retry of a transient database error, with the wait before it. */
  onTransientError?: (error: unknown, attempt: number, delayMs: number) => void;
  /**
   * Build a profile's index once its backfill is complete (see indexIfDue), checked
   * when the worker runs out of work, at most every `indexCheckMs` (default 30 s, backing off
   * while a counted coverage stays short) per profile, and before a draining worker returns.
   * `reembed worker` turns it on; `reembed backfill` builds the index itself.
   */
  indexWhenComplete?: boolean;
  indexCheckMs?: number;
  onIndex?: (event: IndexEvent) => void;
}

export interface WorkerStats {
  workerId: string;
  rowsEmbedded: number;
  rowsDeleted: number;
  rowsDeferred: number;
  tokens: number;
  /** The part of `tokens` that is estimated because the provider reported no usage; 0: exact. */
  estimatedTokens: number;
  rateLimited: number;
  seconds: number;
}

interface ProfileRuntime {
  profile: Profile;
  embedder: Embedder;
  throttle: ProfileThrottle;
  control: ControlState;
}

/**
 * A backfill worker: leases queue items first (live changes, hot documents), then chunks of
 * the id space, embeds only missing or stale rows, and writes with the content-hash guard.
 * Any number of workers in any number of processes share one database; a killed worker loses
 * nothing because everything it holds is a lease that expires.
 */
export class Worker {
  readonly id: string;
  private readonly db: Database;
  private readonly options: WorkerOptions;
  private readonly runtimes = new Map<string, ProfileRuntime>();
  private readonly stats: WorkerStats;
  private readonly byProfile = new Map<
    string,
    { rows: number; rateLimited: number; tokens: number; estimatedTokens: number }
  >();
  private readonly started = performance.now();
  private readonly leaseSeconds: number;
  private readonly pageSize: number;
  private readonly budget: RowBudget | null;
  /** This worker's index check in flight (see checkIndexes). */
  private indexing: Promise<void> | null = null;

  constructor(db: Database, options: WorkerOptions) {
    this.db = db;
    this.options = options;
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.leaseSeconds = options.leaseSeconds ?? 30;
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.budget = options.budget ?? (options.limit !== undefined ? new RowBudget(options.limit) : null);
    this.stats = {
      workerId: this.id,
      rowsEmbedded: 0,
      rowsDeleted: 0,
      rowsDeferred: 0,
      tokens: 0,
      estimatedTokens: 0,
      rateLimited: 0,
      seconds: 0,
    };
    const throttles = options.throttles ?? createThrottles(options.profiles);
    for (const profile of options.profiles) {
      const throttle = throttles.get(profile.name) ?? createThrottles([profile]).get(profile.name)!;
      const embedder = createEmbedder(profile, {
        ...options.embedderOptions,
        limiter: throttle.limiter,
        onRetry: (event) => {
          options.embedderOptions?.onRetry?.(event);
          if (event.error instanceof RateLimitedError) {
            this.stats.rateLimited++;
            this.countFor(profile.name).rateLimited++;
            throttle.rateLimited();
          }
        },
      });
      this.runtimes.set(profile.name, { profile, embedder, throttle, control: { paused: false, rpm: null } });
    }
  }

  async run(): Promise<WorkerStats> {
    const names = [...this.runtimes.keys()];
    for (const rt of this.runtimes.values()) await ensureStore(this.db, rt.profile);
    await this.db.query(
      `INSERT INTO ${WORKERS_TABLE} (worker_id, host, pid, profiles) VALUES ($1, $2, $3, $4)
       ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now(), state = 'running'`,
      [this.id, hostname(), process.pid, names],
    );
    await this.pollControl();
    const controlTimer = setInterval(
      () =>
        void this.pollControl().catch(
          warnAndContinue('polling the backfill control (pause, throttle)', { worker: this.id }),
        ),
      this.options.controlPollMs ?? 250,
    );
    const heartbeatTimer = setInterval(
      () => void this.heartbeat().catch(warnAndContinue('the worker heartbeat', { worker: this.id })),
      Math.max(200, (this.leaseSeconds * 1000) / 3),
    );
    try {
      await this.loop(names);
    } catch (error) {
      // Stopping (SIGINT, SIGTERM, an abort from code) interrupts work in flight: that is a
      // clean stop, since everything unfinished is a lease that is given back below.
      if (!this.options.signal?.aborted) throw error;
    } finally {
      clearInterval(controlTimer);
      clearInterval(heartbeatTimer);
      await releaseLeases(this.db, this.id).catch(
        warnAndContinue('giving back the leases of a stopping worker', { worker: this.id }),
      );
      // An index build in progress is finished, not abandoned half-built; the leases are given
      // back first, so other workers go on meanwhile.
      await this.indexing;
      await this.heartbeat('stopped').catch(warnAndContinue('recording the worker as stopped', { worker: this.id }));
    }
    return this.snapshot();
  }

  private snapshot(): WorkerStats {
    return { ...this.stats, seconds: (performance.now() - this.started) / 1000 };
  }

  private limitReached(): boolean {
    return this.budget?.spent ?? false;
  }

  /** Rows the next page may embed: the page size (of these profiles), or what is left of the limit. */
  private reserve(profiles: readonly Profile[]): number {
    const rows = Math.min(...profiles.map((p) => this.pageRows(p)));
    return this.budget ? this.budget.reserve(rows) : rows;
  }

  /**
   * A page of a profile with an image input holds its rows' images (read with the page, up to
   * image.max_bytes each, decoded in flight): at most IMAGE_PAGE_ROWS of them, whatever the
   * page size, so a worker's memory stays bounded by images, not by rows.
   */
  private pageRows(profile: Profile): number {
    return imageRefOf(profile) ? Math.min(this.pageSize, IMAGE_PAGE_ROWS) : this.pageSize;
  }

  private settleBudget(granted: number, embedded: number): void {
    this.budget?.settle(granted, embedded);
  }

  /**
   * Steps until stopped, out of work (drain) or at the limit. A step that fails on a transient
   * database error (deadlock, serialization conflict, a dropped connection, a server restart or
   * failover) gives its leases back and is tried again with backoff, for up to
   * `transientRetryMs` of failures in a row: nothing it did is lost or doubled, since every write
   * is guarded and a chunk is only marked done when all of it is.
   */
  private async loop(names: string[]): Promise<void> {
    const signal = this.options.signal;
    const budget = this.options.transientRetryMs ?? 120_000;
    let failingSince: number | null = null;
    let attempt = 0;
    while (!signal?.aborted && !this.limitReached()) {
      try {
        const outcome = await this.step(names);
        if (outcome === 'idle') this.checkIndexes(names, false);
        if (outcome === 'done') {
          // A check begun before the last chunk was done may have found it incomplete: look again.
          await this.indexing;
          this.checkIndexes(names, true);
          await this.indexing;
          return;
        }
        failingSince = null;
        attempt = 0;
      } catch (error) {
        if (signal?.aborted || !isTransientDatabaseError(error)) throw error;
        failingSince ??= performance.now();
        if (performance.now() - failingSince >= budget) throw error;
        attempt++;
        const delayMs = backoffDelay(attempt, 250, 15_000);
        this.options.onTransientError?.(error, attempt, delayMs);
        await releaseLeases(this.db, this.id).catch(
          warnAndContinue('giving back the leases during a database outage', { worker: this.id, attempt }),
        );
        await sleepUnlessAborted(delayMs, signal);
      }
    }
  }

  /**
   * Out of work: checks in the background whether a profile's backfill is complete and its
   * index missing, and builds it (indexIfDue: shared by the workers of the process, throttled).
   * Its failures are reported, never thrown into the work loop.
   */
  private checkIndexes(names: string[], due: boolean): void {
    if (!this.options.indexWhenComplete || this.indexing) return;
    this.indexing = (async () => {
      for (const name of names) {
        await indexIfDue(this.db, this.options.source, this.runtimes.get(name)!.profile, {
          due,
          everyMs: this.options.indexCheckMs,
          onEvent: this.options.onIndex,
        });
      }
    })().finally(() => {
      this.indexing = null;
    });
  }

  /** One unit of work: queue items first, then a chunk; 'done' when draining found nothing left. */
  private async step(names: string[]): Promise<'worked' | 'idle' | 'done'> {
    const idle = this.options.idlePollMs ?? 100;
    const signal = this.options.signal;
    const active = names.filter((n) => !this.runtimes.get(n)!.control.paused);
    if (active.length === 0) {
      await sleepUnlessAborted(idle, signal);
      return 'idle';
    }
    const size = this.reserve(active.map((n) => this.runtimes.get(n)!.profile));
    if (size === 0) {
      // The limit is held by pages of other workers in flight: they may give rows back.
      await sleepUnlessAborted(idle, signal);
      return 'idle';
    }
    let embedded = 0;
    let items: QueueItem[];
    try {
      items = await leaseQueueItems(this.db, this.id, active, size, this.leaseSeconds);
      for (const name of new Set(items.map((i) => i.profile))) {
        const { written } = await this.processQueueItems(
          this.runtimes.get(name)!,
          items.filter((i) => i.profile === name),
        );
        embedded += written;
      }
    } finally {
      this.settleBudget(size, embedded);
    }
    if (items.length > 0) return 'worked';
    const chunk = await leaseChunk(this.db, this.id, active, this.leaseSeconds);
    if (chunk) {
      await this.processChunk(this.runtimes.get(chunk.profile)!, chunk);
      return 'worked';
    }
    if (this.options.mode !== 'forever' && active.length === names.length) {
      const pending = await pendingWork(this.db, names);
      if (pending.queued === 0 && pending.chunks === 0) return 'done';
    }
    await sleepUnlessAborted(idle, signal);
    return 'idle';
  }

  private context(rt: ProfileRuntime): EmbedRowsContext {
    return {
      db: this.db,
      source: this.options.source,
      profile: rt.profile,
      embedder: rt.embedder,
      maxAttempts: this.options.maxAttempts ?? 5,
      retryBaseMs: this.options.retryBaseMs ?? 1000,
      signal: this.options.signal,
      isPaused: () => rt.control.paused,
    };
  }

  /** This worker's counts of one profile, for status (a worker may serve several). */
  private countFor(profile: string): { rows: number; rateLimited: number; tokens: number; estimatedTokens: number } {
    let c = this.byProfile.get(profile);
    if (!c) this.byProfile.set(profile, (c = { rows: 0, rateLimited: 0, tokens: 0, estimatedTokens: 0 }));
    return c;
  }

  private account(
    rt: ProfileRuntime,
    result: { written: string[]; deferred: string[]; tokens: number; estimatedTokens: number },
  ): void {
    this.stats.rowsEmbedded += result.written.length;
    const mine = this.countFor(rt.profile.name);
    mine.rows += result.written.length;
    mine.tokens += result.tokens;
    mine.estimatedTokens += result.estimatedTokens;
    this.stats.rowsDeferred += result.deferred.length;
    this.stats.tokens += result.tokens;
    this.stats.estimatedTokens += result.estimatedTokens;
    if (result.written.length > 0) rt.throttle.succeeded();
    this.options.onProgress?.(this.snapshot());
  }

  /** Embeds the leased queue items of one profile: the rows embedded, and whether the profile was paused meanwhile (leases given back). */
  private async processQueueItems(
    rt: ProfileRuntime,
    items: QueueItem[],
  ): Promise<{ written: number; paused: boolean }> {
    const { source } = this.options;
    const ids = items.map((i) => i.docId);
    const { present, stale } = await staleByIds(this.db, source, rt.profile, ids);
    this.stats.rowsDeleted += await deleteOrphans(
      this.db,
      source,
      rt.profile,
      ids.filter((id) => !present.has(id)),
    );
    const result = await embedRows(
      { ...this.context(rt), versions: new Map(items.map((i) => [i.docId, i.version])) },
      stale,
      new Map(items.map((i) => [i.docId, i.attempts])),
    );
    if (result.paused) {
      // Rows written before the pause was seen are counted (and kept against the limit).
      this.account(rt, result);
      await releaseLeases(this.db, this.id, rt.profile.name);
      return { written: result.written.length, paused: true };
    }
    const deferred = new Set(result.deferred);
    await completeQueueItems(
      this.db,
      this.id,
      rt.profile.name,
      items.filter((i) => !deferred.has(i.docId)),
    );
    this.account(rt, result);
    return { written: result.written.length, paused: false };
  }

  /**
   * Inside a chunk: embeds the just-in-time requests of its profile that are ready, so a search
   * waiting for a document does not wait for the rest of the chunk (5,000 rows by default:
   * minutes with a remote provider). False: the profile was paused (leases given back).
   */
  private async serveUrgent(rt: ProfileRuntime): Promise<boolean> {
    // Paused: nothing to take now; the chunk's next page sees the pause and gives the leases back.
    if (rt.control.paused) return true;
    const size = this.reserve([rt.profile]);
    if (size === 0) return true;
    let written = 0;
    let paused = false;
    try {
      const items = await leaseQueueItems(this.db, this.id, [rt.profile.name], size, this.leaseSeconds, JIT_PRIORITY);
      if (items.length > 0) ({ written, paused } = await this.processQueueItems(rt, items));
    } finally {
      this.settleBudget(size, written);
    }
    return !paused;
  }

  /**
   * Embeds a chunk page by page, up to `pipelineDepth` pages in flight: a page is read as soon
   * as the one before it is (its last id is the next page's start), and its rows go to the
   * provider while earlier pages still wait for vectors or are being written. Pages hold
   * disjoint ids and every write is guarded by the content hash, so their order does not matter;
   * results are accounted in page order.
   */
  private async processChunk(rt: ProfileRuntime, chunk: Chunk): Promise<void> {
    const filter = await loadFilter(this.db, rt.profile.name);
    const { concurrency, batch_size: batchSize } = rt.profile;
    const enough = Math.ceil((concurrency * batchSize) / this.pageSize) + 1;
    // With a row limit, pages go one at a time: each reserves its rows of the limit before it reads them.
    const depth = this.budget ? 1 : Math.max(1, this.options.pipelineDepth ?? Math.max(2, enough));
    const inFlight: Array<{ page: Promise<EmbedRowsResult>; granted: number }> = [];
    // What to do with a page's result; false: stop (paused), leases given back.
    const settle = async ({ page, granted }: { page: Promise<EmbedRowsResult>; granted: number }): Promise<boolean> => {
      let result: EmbedRowsResult;
      try {
        result = await page;
      } catch (error) {
        this.settleBudget(granted, 0);
        throw error;
      }
      if (result.paused) {
        // Part of the page may be written before the pause was seen: it counts, against the limit too.
        this.account(rt, result);
        this.settleBudget(granted, result.written.length);
        await releaseLeases(this.db, this.id, rt.profile.name);
        return false;
      }
      this.account(rt, result);
      this.settleBudget(granted, result.written.length);
      return true;
    };
    const urgentEveryMs = this.options.urgentCheckMs ?? 1000;
    let urgentCheckedAt = performance.now();
    try {
      let after = chunk.lo;
      for (;;) {
        if (this.options.signal?.aborted) return;
        if (performance.now() - urgentCheckedAt >= urgentEveryMs) {
          urgentCheckedAt = performance.now();
          if (!(await this.serveUrgent(rt))) return;
        }
        const size = this.reserve([rt.profile]);
        if (size === 0) {
          // At the limit (or it is held by other pages in flight): the chunk stays open for a later run.
          await releaseLeases(this.db, this.id, rt.profile.name);
          return;
        }
        let rows: Awaited<ReturnType<typeof staleInRange>>;
        try {
          rows = await staleInRange(this.db, this.options.source, rt.profile, { after, hi: chunk.hi }, filter, size);
        } catch (error) {
          this.settleBudget(size, 0);
          throw error;
        }
        if (rows.length === 0) {
          this.settleBudget(size, 0);
          break;
        }
        after = rows.at(-1)!.docId;
        const page = embedRows(this.context(rt), rows, new Map());
        // Awaited in page order below (or settled in finally); until then a failure must not
        // count as an unhandled rejection, which would end the process.
        page.catch(() => {});
        inFlight.push({ page, granted: size });
        if (inFlight.length >= depth && !(await settle(inFlight.shift()!))) return;
      }
      while (inFlight.length > 0) if (!(await settle(inFlight.shift()!))) return;
      await completeChunk(this.db, this.id, chunk);
    } finally {
      // Pages still in flight after a stop or an error finish (or fail) before the worker goes
      // on (nothing may run behind its back), and what they wrote is counted.
      for (const { page, granted } of inFlight) {
        const outcome = await page.then(
          (value) => ({ value }),
          () => null,
        );
        if (outcome) {
          this.account(rt, outcome.value);
          this.settleBudget(granted, outcome.value.written.length);
        } else this.settleBudget(granted, 0);
      }
    }
  }

  /** Reads pause and throttle for this worker's profiles; a throttle is split among live processes. */
  private async pollControl(): Promise<void> {
    const controls = await readControl(this.db, [...this.runtimes.keys()]);
    for (const [name, control] of controls) {
      const rt = this.runtimes.get(name)!;
      rt.control = control;
      rt.throttle.setControl(control.rpm);
    }
  }

  private async heartbeat(state = 'running'): Promise<void> {
    await this.db.query(
      `UPDATE ${WORKERS_TABLE} SET heartbeat_at = now(), rows_embedded = $2, tokens = $3, rate_limited = $4, state = $5,
         by_profile = $6::jsonb, rss_bytes = $7 WHERE worker_id = $1`,
      [
        this.id,
        this.stats.rowsEmbedded,
        this.stats.tokens,
        this.stats.rateLimited,
        state,
        JSON.stringify(Object.fromEntries(this.byProfile)),
        process.memoryUsage.rss(),
      ],
    );
    if (state !== 'running') return;
    await renewLeases(this.db, this.id, this.leaseSeconds);
    const live = await liveWorkers(this.db, this.leaseSeconds);
    for (const rt of this.runtimes.values()) {
      const processes = new Set(
        live.filter((w) => w.profiles.includes(rt.profile.name)).map((w) => `${w.host}:${w.pid}`),
      );
      rt.throttle.setLiveProcesses(processes.size);
    }
  }
}

export async function runWorker(db: Database, options: WorkerOptions): Promise<WorkerStats> {
  return new Worker(db, options).run();
}
