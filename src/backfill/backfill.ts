import { RowBudget } from './row-budget.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { ensureStore } from '../store/store.js';
import { setCapture } from '../source/capture.js';
import { deleteAllOrphans } from '../store/guarded-write.js';
import type { Source } from '../source/source.js';
import { countCoverage, type Coverage } from './coverage.js';
import { filterSql, planBackfill, type BackfillPlan, type RowFilter } from './plan.js';
import type { WorkerOptions, WorkerStats } from './worker.js';
import { createThrottles } from './throttle.js';
import { profileHashSql, renderSql } from '../source/render.js';
import { storeLayout } from '../store/store.js';

/**
 * Turns capture on for a profile (triggers enqueue every later change for it, alongside the
 * other capturing profiles) and plans chunks over the rows that exist now. Capture goes first,
 * so a row written between the two is either in a chunk or in the queue, never in neither.
 */
export async function prepareBackfill(
  db: Database,
  source: Source,
  profile: Profile,
  allProfiles: Map<string, Profile>,
  options: { chunkSize?: number; filter?: RowFilter | null } = {},
): Promise<BackfillPlan> {
  await ensureStore(db, profile);
  await db.transaction((tx) => setCapture(tx, source, allProfiles, { [profile.name]: true }));
  // Documents deleted while this profile was not capturing left store rows behind; the
  // backfill walks source rows only, so they go now, after capture is on.
  await deleteAllOrphans(db, source, profile);
  return planBackfill(db, source, profile, options);
}

export interface BackfillRun {
  workers: WorkerStats[];
  coverage: Coverage;
  seconds: number;
}

/** Runs `workers` workers in this process until the profile's work is drained. */
export async function runBackfill(
  db: Database,
  options: Omit<WorkerOptions, 'workerId'> & { workers?: number },
): Promise<BackfillRun> {
  const started = performance.now();
  // The worker (and through it the providers) loads when a backfill runs, not when a
  // migration only plans one.
  const { runWorker } = await import('./worker.js');
  const count = Math.max(1, options.workers ?? 1);
  // The workers of this process share one rate per profile.
  const throttles = options.throttles ?? createThrottles(options.profiles);
  // …and one --limit: together they stop at exactly that many rows.
  const budget = options.budget ?? (options.limit !== undefined ? new RowBudget(options.limit) : undefined);
  const stats = await Promise.all(
    Array.from({ length: count }, () => runWorker(db, { mode: 'drain', ...options, throttles, budget })),
  );
  const coverage = await countCoverage(db, options.source, options.profiles[0]!);
  return { workers: stats, coverage, seconds: (performance.now() - started) / 1000 };
}

export interface BackfillEstimate {
  profile: string;
  rows: number;
  toEmbed: number;
  estimatedTokens: number;
  estimatedCost: number | null;
  /** At the profile's rpm/tpm limits, when it has any; null when unlimited. */
  estimatedSeconds: number | null;
  index: string;
}

/**
 * What a backfill would do, without embedding: rows missing or stale, their tokens (about 4
 * characters a token, the usual rule for English under BPE tokenizers), cost at the profile's
 * price, and time at its rate limit.
 */
export async function estimateBackfill(
  db: Database,
  source: Source,
  profile: Profile,
  filter: RowFilter | null,
  /** Only the first this many rows to embed, in id order, as `backfill --limit` embeds them. */
  limit?: number,
): Promise<BackfillEstimate> {
  await ensureStore(db, profile);
  const params: unknown[] = filter ? [filter.value] : [];
  const notCurrent = `e.doc_id IS NULL OR e.content_hash <> ${profileHashSql(profile, 's')}`;
  const from = `${source.table} s LEFT JOIN ${storeLayout(profile).table} e ON e.doc_id = s.${source.id}::text`;
  const { rows } = await db.query<{ rows: string | number; stale: string | number; chars: string | number }>(
    limit === undefined
      ? `SELECT count(*) AS rows,
            count(*) FILTER (WHERE ${notCurrent}) AS stale,
            coalesce(sum(length(${renderSql(profile.template!, 's')})) FILTER (WHERE ${notCurrent}), 0) AS chars
         FROM ${from} WHERE ${filterSql(filter, 1)}`
      : `SELECT (SELECT count(*) FROM ${source.table} s WHERE ${filterSql(filter, 1)}) AS rows,
                count(*) AS stale, coalesce(sum(chars), 0) AS chars
         FROM (SELECT length(${renderSql(profile.template!, 's')}) AS chars FROM ${from}
               WHERE ${filterSql(filter, 1)} AND (${notCurrent})
               ORDER BY s.${source.id} LIMIT $${params.length + 1}) AS first_rows`,
    limit === undefined ? params : [...params, limit],
  );
  const toEmbed = Number(rows[0]?.stale ?? 0);
  const tokens = Math.ceil(Number(rows[0]?.chars ?? 0) / 4);
  const requests = Math.ceil(toEmbed / profile.batch_size);
  const limits = [
    profile.rate_limit.rpm ? (requests / profile.rate_limit.rpm) * 60 : null,
    profile.rate_limit.tpm ? (tokens / profile.rate_limit.tpm) * 60 : null,
  ].filter((x): x is number => x !== null);
  const layout = storeLayout(profile);
  return {
    profile: profile.name,
    rows: Number(rows[0]?.rows ?? 0),
    toEmbed,
    estimatedTokens: tokens,
    estimatedCost:
      profile.price_per_million_tokens !== undefined ? (tokens / 1e6) * profile.price_per_million_tokens : null,
    estimatedSeconds: limits.length ? Math.max(...limits) : null,
    index:
      layout.index === 'exact'
        ? `none: ${profile.dims} dims is over pgvector's index limit, search is exact`
        : `${layout.index} (${layout.opclass})`,
  };
}
