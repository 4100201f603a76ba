/**
 * Whether a candidate may serve while the application keeps writing. Counted coverage of
 * exactly 100% at one instant never holds on a live system: some row has always just changed
 * and waits in the queue for a worker. So readiness is judged by lag, not by instant: the
 * backfill has reached every row (no dead letters, and every row that is not current is
 * accounted for by a queued change younger than `maxQueueLagMs`), with counted coverage of at
 * least `minCoverage`. Open chunks are reported but do not decide: rows do.
 */
import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { QUEUE_TABLE } from '../source/capture.js';
import { profileHashSql } from '../source/render.js';
import type { Source } from '../source/source.js';
import { storeLayout } from '../store/store.js';
import { truncatedPercent } from '../percent.js';
import { CHUNKS_TABLE, FAILURES_TABLE } from './tables.js';

export const DEFAULT_MAX_QUEUE_LAG_MS = 30_000;
export const DEFAULT_MIN_COVERAGE = 0.999;

export interface ReadinessOptions {
  /** A row that is not current is "in flight" while its queued change is younger than this. */
  maxQueueLagMs?: number;
  /** Counted coverage (current / source rows) needed, in flight or not. */
  minCoverage?: number;
}

export interface Readiness {
  profile: string;
  ready: boolean;
  sourceRows: number;
  /** Source rows whose store row is current. */
  current: number;
  /** current / sourceRows (1 for an empty source). */
  coverage: number;
  /** Rows not current (stale, missing, or deleted but still stored) with a change queued within the lag. */
  inFlight: number;
  /** Rows not current whose queued change is older than the lag: the workers are behind. */
  lagging: number;
  /** Age of the oldest queued change of a row that is not current, in seconds. */
  oldestQueuedSeconds: number | null;
  /** Rows not current with no queued change: the backfill has not reached them. */
  unqueued: number;
  /** Backfill chunks not done yet. */
  openChunks: number;
  deadLetters: number;
  maxQueueLagMs: number;
  minCoverage: number;
  /** Why it is not ready, one entry per case; empty when ready. */
  reasons: string[];
}

export async function candidateReadiness(
  conn: Queryable,
  source: Source,
  profile: Profile,
  options: ReadinessOptions = {},
): Promise<Readiness> {
  const maxQueueLagMs = options.maxQueueLagMs ?? DEFAULT_MAX_QUEUE_LAG_MS;
  const minCoverage = options.minCoverage ?? DEFAULT_MIN_COVERAGE;
  const store = storeLayout(profile).table;
  const hash = profileHashSql(profile, 's');
  // Rows that are not current: stale or missing source rows, and store rows whose source row is
  // gone (a delete not yet applied). Each is matched with its queue item, if any.
  const { rows } = await conn.query<{
    source_rows: string | number;
    current: string | number;
    unqueued: string | number;
    in_flight: string | number;
    lagging: string | number;
    oldest: string | number | null;
  }>(
    `WITH counted AS (
       SELECT count(*) AS source_rows, count(*) FILTER (WHERE e.content_hash = ${hash}) AS current
       FROM ${source.table} s LEFT JOIN ${store} e ON e.doc_id = s.${source.id}::text
     ), pending AS (
       SELECT s.${source.id}::text AS doc_id
       FROM ${source.table} s LEFT JOIN ${store} e ON e.doc_id = s.${source.id}::text
       WHERE e.doc_id IS NULL OR e.content_hash <> ${hash}
       UNION ALL
       SELECT e.doc_id FROM ${store} e
       WHERE NOT EXISTS (SELECT 1 FROM ${source.table} s WHERE s.${source.id}::text = e.doc_id)
     ), matched AS (
       SELECT q.enqueued_at, q.doc_id IS NOT NULL AS queued
       FROM pending p LEFT JOIN ${QUEUE_TABLE} q ON q.profile = $1 AND q.doc_id = p.doc_id
     )
     SELECT c.source_rows, c.current,
            (SELECT count(*) FROM matched WHERE NOT queued) AS unqueued,
            (SELECT count(*) FROM matched WHERE queued AND enqueued_at >= clock_timestamp() - $2::double precision * interval '1 millisecond') AS in_flight,
            (SELECT count(*) FROM matched WHERE queued AND enqueued_at < clock_timestamp() - $2::double precision * interval '1 millisecond') AS lagging,
            (SELECT extract(epoch FROM clock_timestamp() - min(enqueued_at)) FROM matched WHERE queued) AS oldest
     FROM counted c`,
    [profile.name, maxQueueLagMs],
  );
  const { rows: backfill } = await conn.query<{ open_chunks: string | number; dead: string | number }>(
    `SELECT (SELECT count(*) FROM ${CHUNKS_TABLE} WHERE profile = $1 AND NOT done) AS open_chunks,
            (SELECT count(*) FROM ${FAILURES_TABLE} WHERE profile = $1) AS dead`,
    [profile.name],
  );
  const r = rows[0]!;
  const sourceRows = Number(r.source_rows);
  const current = Number(r.current);
  const readiness: Readiness = {
    profile: profile.name,
    ready: false,
    sourceRows,
    current,
    coverage: sourceRows === 0 ? 1 : current / sourceRows,
    inFlight: Number(r.in_flight),
    lagging: Number(r.lagging),
    oldestQueuedSeconds: r.oldest === null ? null : Number(r.oldest),
    unqueued: Number(r.unqueued),
    openChunks: Number(backfill[0]!.open_chunks),
    deadLetters: Number(backfill[0]!.dead),
    maxQueueLagMs,
    minCoverage,
    reasons: [],
  };
  readiness.reasons = readinessReasons(readiness);
  readiness.ready = readiness.reasons.length === 0;
  return readiness;
}

function readinessReasons(r: Readiness): string[] {
  const reasons: string[] = [];
  // Rows decide, not chunk bookkeeping: a chunk left open over rows that are all current (a
  // backfill run before `migrate start` planned another) holds nothing back.
  if (r.unqueued > 0)
    reasons.push(
      `backfill incomplete (${r.unqueued} rows not embedded${r.openChunks > 0 ? `, ${r.openChunks} chunks open` : ''})`,
    );
  if (r.deadLetters > 0)
    reasons.push(`dead letters (${r.deadLetters}): \`reembed failures list --profile ${r.profile}\``);
  if (r.lagging > 0)
    reasons.push(
      `${r.lagging + r.inFlight} live changes in flight, oldest ${Math.round(r.oldestQueuedSeconds ?? 0)} s ` +
        `(limit ${Math.round(r.maxQueueLagMs / 1000)} s): are workers running?`,
    );
  // Only worth saying when nothing above explains it (changes in flight within the lag, many of them).
  if (r.coverage < r.minCoverage && reasons.length === 0)
    reasons.push(`coverage ${truncatedPercent(r.coverage)} under the minimum of ${truncatedPercent(r.minCoverage)}`);
  return reasons;
}
