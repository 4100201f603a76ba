import {
  backfillTokensByProfile,
  goneWorkers,
  liveWorkers,
  readControl,
  type GoneWorker,
} from '../backfill/control.js';
import { countCoverage, type Coverage } from '../backfill/coverage.js';
import { failuresByProfile } from '../backfill/failures.js';
import { jitSummary, type JitSummary } from '../backfill/jit.js';
import { databaseNow } from '../db/clock.js';
import { captureInstalled, queuedByProfile } from '../source/capture.js';
import { describeIndex, type IndexReport } from '../store/index.js';
import { registeredProfiles } from '../store/registry.js';
import { storeLayout } from '../store/store.js';
import type { FacadeCore } from './core.js';

/** One profile's line of the status report. */
export interface ProfileStatus {
  profile: string;
  capture: boolean;
  coverage: Coverage;
  queued: number;
  failures: number;
  workersAlive: number;
  paused: boolean;
  throttleRpm: number | null;
  rowsEmbeddedByLiveWorkers: number;
  rateLimited: number;
  rowsPerSecond: number;
  /** The store's index (HNSW or IVFFlat, with its list sizes), or `exact` for a profile over pgvector's index limit. */
  index: IndexReport | 'exact';
  /**
   * Provider tokens every backfill worker spent on the profile, the estimated part of them, and
   * their cost from the profile's price_per_million_tokens (null without a price).
   */
  backfillCost: { tokens: number; estimatedTokens: number; usd: number | null };
  /**
   * Just-in-time requests (searches served by the control that queued documents this profile
   * lacked): waiting now, and completed over the last JIT_WINDOW_MS with their time to embed.
   */
  jit: JitSummary;
}

/** The window status reports just-in-time throughput over (the font runbook's "10 items in 5 minutes"). */
export const JIT_WINDOW_MS = 5 * 60_000;

export type LiveWorker = Awaited<ReturnType<typeof liveWorkers>>[number];
export type { GoneWorker };

/** What `reembed status` prints: the source, and every manifest profile that has a store. */
export interface StatusReport {
  database: string;
  /** schema.table */
  source: string;
  captureInstalled: boolean;
  profiles: ProfileStatus[];
  workers: LiveWorker[];
  /** Workers that stopped without a clean stop (killed) in the last day: no heartbeat for `staleSeconds`. */
  goneWorkers: GoneWorker[];
}

export interface StatusOptions {
  /** A worker without a heartbeat for this long is not alive (default 60). */
  staleSeconds?: number;
  /**
   * Also read the sizes of an IVFFlat index's lists (about one pass over the store per profile;
   * default false, so /metrics and GET /v1/status, which read status often, stay cheap).
   */
  listSizes?: boolean;
}

export async function statusReport(core: FacadeCore, options: StatusOptions = {}): Promise<StatusReport> {
  const db = await core.database();
  const source = await core.source();
  const stored = await registeredProfiles(db);
  const capture = new Map(stored.map((r) => [r.name, r.capture]));
  const names = [...core.manifest.profiles.keys()].filter((n) => capture.has(n));
  const queue = await queuedByProfile(db);
  const failed = await failuresByProfile(db);
  const control = await readControl(db, names);
  const staleSeconds = options.staleSeconds ?? 60;
  const workers = await liveWorkers(db, staleSeconds);
  const gone = await goneWorkers(db, staleSeconds);
  const spent = await backfillTokensByProfile(db);
  const now = await databaseNow(db);
  const jitFrom = new Date(now.getTime() - JIT_WINDOW_MS);
  const profiles: ProfileStatus[] = [];
  for (const name of names) {
    const profile = core.manifest.profiles.get(name)!;
    const coverage = await countCoverage(db, source, profile);
    const mine = workers.filter((w) => w.profiles.includes(name));
    profiles.push({
      profile: name,
      capture: capture.get(name) ?? false,
      coverage,
      queued: queue.get(name) ?? 0,
      failures: failed.get(name) ?? 0,
      workersAlive: mine.length,
      paused: control.get(name)!.paused,
      throttleRpm: control.get(name)!.rpm,
      // Each worker's own counts of this profile: a worker serving two profiles does not add
      // one's rate limits or rows to the other.
      rowsEmbeddedByLiveWorkers: mine.reduce((a, w) => a + (w.byProfile[name]?.rowsEmbedded ?? 0), 0),
      rateLimited: mine.reduce((a, w) => a + (w.byProfile[name]?.rateLimited ?? 0), 0),
      rowsPerSecond: mine.reduce(
        (a, w) => a + (w.uptimeSeconds > 0 ? (w.byProfile[name]?.rowsEmbedded ?? 0) / w.uptimeSeconds : 0),
        0,
      ),
      backfillCost: costOf(spent.get(name) ?? { tokens: 0, estimatedTokens: 0 }, profile.price_per_million_tokens),
      jit: await jitSummary(db, name, { from: jitFrom, to: now }),
      index:
        storeLayout(profile).index === 'exact'
          ? 'exact'
          : await describeIndex(db, profile, { listSizes: options.listSizes ?? false }),
    });
  }
  return {
    database: db.target,
    source: `${source.schemaName}.${source.tableName}`,
    captureInstalled: await captureInstalled(db, source),
    profiles,
    workers,
    goneWorkers: gone,
  };
}

/** Tokens and their price (per million tokens, the profile's price_per_million_tokens). */
export function costOf<T extends { tokens: number }>(
  spent: T,
  pricePerMillion: number | undefined,
): T & { usd: number | null } {
  return { ...spent, usd: pricePerMillion === undefined ? null : (spent.tokens / 1e6) * pricePerMillion };
}
