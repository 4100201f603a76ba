import { backoffDelay } from '../backoff.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import type { Embedder } from '../embedders/embedder.js';
import {
  EmptyInputError,
  InputTooLongError,
  InvalidResponseError,
  isRetryable,
  ProviderAuthError,
} from '../embedders/errors.js';
import { ReembedError } from '../errors.js';
import { QUEUE_TABLE } from '../source/capture.js';
import type { Source } from '../source/source.js';
import { writeIfCurrent } from '../store/guarded-write.js';
import type { Candidate } from './candidates.js';
import { clearFailures, recordFailures } from './failures.js';

export interface EmbedRowsContext {
  db: Database;
  source: Source;
  profile: Profile;
  embedder: Embedder;
  maxAttempts: number;
  retryBaseMs: number;
  signal?: AbortSignal;
  /** Queue versions of rows that came from the queue (rows from chunks have none). */
  versions?: Map<string, number>;
  /** Checked after embedding, before writing: a pause stops writes even for work in flight. */
  isPaused: () => boolean;
}

export interface EmbedRowsResult {
  written: string[];
  /** Rows that failed this time and were queued again (or dead-lettered): not done. */
  deferred: string[];
  tokens: number;
  /** The part of `tokens` that is estimated (the provider reported no usage). */
  estimatedTokens: number;
  paused: boolean;
}

function errorClass(error: unknown): string {
  if (error instanceof ReembedError) return error.code;
  return error instanceof Error ? error.name : 'Error';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Embeds candidate rows and writes their vectors with the content-hash guard. Identical texts
 * are embedded once. An input the provider can never embed (empty, too long) is dead-lettered
 * at once; a batch the provider refuses is split in halves to find the bad row; a batch that
 * fails for a passing reason (after the embedder's own retries) goes back to the queue with
 * backoff, and into the failures table after maxAttempts. Wrong credentials stop the worker.
 */
export async function embedRows(
  ctx: EmbedRowsContext,
  rows: Candidate[],
  attempts: Map<string, number>,
): Promise<EmbedRowsResult> {
  const result: EmbedRowsResult = { written: [], deferred: [], tokens: 0, estimatedTokens: 0, paused: false };
  await embedPart(ctx, rows, attempts, result);
  return result;
}

async function embedPart(
  ctx: EmbedRowsContext,
  rows: Candidate[],
  attempts: Map<string, number>,
  out: EmbedRowsResult,
): Promise<void> {
  if (rows.length === 0 || out.paused) return;
  const texts = [...new Set(rows.map((r) => r.text))];
  let vectors: Float32Array[];
  try {
    const embedded = await ctx.embedder.embed(texts, 'document', { signal: ctx.signal });
    vectors = embedded.vectors;
    out.tokens += embedded.usage.tokens;
    out.estimatedTokens += embedded.usage.estimatedTokens;
  } catch (error) {
    if (ctx.signal?.aborted) throw error;
    if (error instanceof ProviderAuthError) throw error;
    if (error instanceof EmptyInputError || error instanceof InputTooLongError) {
      const bad = texts[error.index];
      const failed = rows.filter((r) => r.text === bad);
      await deadLetter(ctx, failed, attempts, error);
      out.deferred.push(...failed.map((r) => r.docId));
      return embedPart(
        ctx,
        rows.filter((r) => r.text !== bad),
        attempts,
        out,
      );
    }
    // A refused request, or a response still malformed after the embedder's retries, may be
    // caused by one input: halve the batch to find it instead of failing every row.
    if ((!isRetryable(error) || error instanceof InvalidResponseError) && texts.length > 1) {
      const half = new Set(texts.slice(0, Math.ceil(texts.length / 2)));
      await embedPart(
        ctx,
        rows.filter((r) => half.has(r.text)),
        attempts,
        out,
      );
      return embedPart(
        ctx,
        rows.filter((r) => !half.has(r.text)),
        attempts,
        out,
      );
    }
    await defer(ctx, rows, attempts, error, !isRetryable(error));
    out.deferred.push(...rows.map((r) => r.docId));
    return;
  }
  if (ctx.isPaused()) {
    out.paused = true;
    return;
  }
  const byText = new Map(texts.map((t, i) => [t, vectors[i]!]));
  const written = await writeIfCurrent(
    ctx.db,
    ctx.source,
    ctx.profile,
    rows.map((r) => ({ docId: r.docId, vector: byText.get(r.text)!, contentHash: r.contentHash })),
    // The worker commits what says the rows are done (the chunk, the queue items) only after
    // this write, synchronously: that commit makes this one durable too.
    { asyncCommit: true },
  );
  await clearFailures(ctx.db, ctx.profile.name, written);
  out.written.push(...written);
}

async function deadLetter(
  ctx: EmbedRowsContext,
  rows: Candidate[],
  attempts: Map<string, number>,
  error: unknown,
): Promise<void> {
  await recordFailures(
    ctx.db,
    ctx.profile.name,
    rows.map((r) => ({
      docId: r.docId,
      errorClass: errorClass(error),
      message: message(error),
      attempts: (attempts.get(r.docId) ?? 0) + 1,
      version: ctx.versions?.get(r.docId),
    })),
  );
}

/** Queues rows again with exponential backoff, or dead-letters those out of attempts. */
async function defer(
  ctx: EmbedRowsContext,
  rows: Candidate[],
  attempts: Map<string, number>,
  error: unknown,
  permanent: boolean,
): Promise<void> {
  const exhausted = rows.filter((r) => permanent || (attempts.get(r.docId) ?? 0) + 1 >= ctx.maxAttempts);
  await deadLetter(ctx, exhausted, attempts, error);
  const again = rows.filter((r) => !exhausted.includes(r));
  if (again.length === 0) return;
  const next = again.map((r) => (attempts.get(r.docId) ?? 0) + 1);
  // The next attempt is attempts + 1: its delay ceiling doubles from retryBaseMs · 2, capped at a minute.
  const delays = next.map((n) => backoffDelay(n + 1, ctx.retryBaseMs, 60_000));
  const lastError = `${errorClass(error)}: ${message(error)}`.slice(0, 2000);
  const fromQueue = again.filter((r) => ctx.versions?.has(r.docId));
  const fromChunk = again.filter((r) => !ctx.versions?.has(r.docId));
  const delayOf = new Map(again.map((r, i) => [r.docId, { attempts: next[i]!, delay: delays[i]! }]));
  // A queue item is retried at the version that failed; if a newer change was queued
  // meanwhile, that one stands with its own attempts and no backoff.
  if (fromQueue.length) {
    await ctx.db.query(
      `UPDATE ${QUEUE_TABLE} q SET attempts = u.attempts, not_before = clock_timestamp() + make_interval(secs => u.delay_ms / 1000.0),
              last_error = $5, lease_until = NULL, leased_by = NULL
       FROM unnest($2::text[], $3::int[], $4::int[], $6::bigint[]) AS u(doc_id, attempts, delay_ms, version)
       WHERE q.profile = $1 AND q.doc_id = u.doc_id AND q.version = u.version`,
      [
        ctx.profile.name,
        fromQueue.map((r) => r.docId),
        fromQueue.map((r) => delayOf.get(r.docId)!.attempts),
        fromQueue.map((r) => delayOf.get(r.docId)!.delay),
        lastError,
        fromQueue.map((r) => ctx.versions!.get(r.docId)!),
      ],
    );
  }
  // A row from a chunk goes into the queue for its retry, unless a change already queued it.
  if (fromChunk.length) {
    await ctx.db.query(
      `INSERT INTO ${QUEUE_TABLE} (profile, doc_id, attempts, not_before, last_error)
       SELECT $1, u.doc_id, u.attempts, clock_timestamp() + make_interval(secs => u.delay_ms / 1000.0), $5
       FROM unnest($2::text[], $3::int[], $4::int[]) AS u(doc_id, attempts, delay_ms)
       ON CONFLICT (profile, doc_id) DO NOTHING`,
      [
        ctx.profile.name,
        fromChunk.map((r) => r.docId),
        fromChunk.map((r) => delayOf.get(r.docId)!.attempts),
        fromChunk.map((r) => delayOf.get(r.docId)!.delay),
        lastError,
      ],
    );
  }
}
