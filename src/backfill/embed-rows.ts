import { backoffDelay } from '../backoff.js';
import pLimit from 'p-limit';
import { imageRefOf, type Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import type { EmbedImage, Embedder } from '../embedders/embedder.js';
import {
  EmptyInputError,
  InputTooLongError,
  InvalidResponseError,
  isRetryable,
  ProviderAuthError,
} from '../embedders/errors.js';
import { ImageInputError, ReembedError } from '../errors.js';
import { loadImageInput } from '../source/image.js';
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
  /** The fetch for http(s) image inputs (default globalThis.fetch). */
  fetchImage?: typeof globalThis.fetch;
}

/** Image inputs read at once per page (files and URLs). */
const IMAGE_READS = 8;

/** A candidate with its image input read and checked (for profiles with one). */
type Row = Candidate & { loaded?: EmbedImage };

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
  const ready = imageRefOf(ctx.profile) ? await readImages(ctx, rows, attempts, result) : rows;
  await embedPart(ctx, ready, attempts, result);
  return result;
}

/**
 * Reads and checks the image input of every row. A row whose image is unusable fails alone:
 * at once into the failures table for a broken image (bad bytes, 404, wrong type, too large),
 * back to the queue with backoff for one that may pass (a timeout, a 5xx), like a provider
 * failure. A NULL image leaves the row its text alone.
 */
async function readImages(
  ctx: EmbedRowsContext,
  rows: Candidate[],
  attempts: Map<string, number>,
  out: EmbedRowsResult,
): Promise<Row[]> {
  const limit = pLimit(IMAGE_READS);
  const options = { ...ctx.profile.image, fetch: ctx.fetchImage, signal: ctx.signal };
  const read = await Promise.all(
    rows.map((row) =>
      limit(async (): Promise<Row | ImageInputError> => {
        if (row.image == null || ctx.signal?.aborted) return row;
        try {
          return { ...row, loaded: await loadImageInput(row.image, options) };
        } catch (error) {
          if (error instanceof ImageInputError) return error;
          // Whatever else reading one row's image threw is that row's failure, not the worker's:
          // a worker that stopped on it would lease the same row again and stop again.
          const why = error instanceof Error ? error.message : String(error);
          return new ImageInputError('invalid_value', `reading the image failed: ${why}`, { cause: error });
        }
      }),
    ),
  );
  // A stopping worker abandons the page (its leases are given back): what its reads failed on
  // is the stop, not the images, so no row is failed for it.
  ctx.signal?.throwIfAborted();
  const ready: Row[] = [];
  for (const [i, result] of read.entries()) {
    if (!(result instanceof ImageInputError)) {
      ready.push(result);
      continue;
    }
    await defer(ctx, [rows[i]!], attempts, result, !result.transient);
    out.deferred.push(rows[i]!.docId);
  }
  return ready;
}

/**
 * What identifies an input: its text, or for a profile with an image input the content hash,
 * which covers text and image (rows with the same text and another image are other inputs).
 */
function inputKey(row: Row): string {
  return row.image === undefined ? row.text : row.contentHash;
}

async function embedPart(
  ctx: EmbedRowsContext,
  rows: Row[],
  attempts: Map<string, number>,
  out: EmbedRowsResult,
): Promise<void> {
  if (rows.length === 0 || out.paused) return;
  const unique = new Map<string, Row>();
  for (const r of rows) if (!unique.has(inputKey(r))) unique.set(inputKey(r), r);
  const keys = [...unique.keys()];
  const inputs = [...unique.values()];
  const texts = inputs.map((r) => r.text);
  const images = imageRefOf(ctx.profile) ? inputs.map((r) => r.loaded) : undefined;
  let vectors: Float32Array[];
  try {
    const embedded = await ctx.embedder.embed(texts, 'document', { signal: ctx.signal, images });
    vectors = embedded.vectors;
    out.tokens += embedded.usage.tokens;
    out.estimatedTokens += embedded.usage.estimatedTokens;
  } catch (error) {
    if (ctx.signal?.aborted) throw error;
    if (error instanceof ProviderAuthError) throw error;
    if (error instanceof EmptyInputError || error instanceof InputTooLongError) {
      const bad = keys[error.index];
      const failed = rows.filter((r) => inputKey(r) === bad);
      await deadLetter(ctx, failed, attempts, error);
      out.deferred.push(...failed.map((r) => r.docId));
      return embedPart(
        ctx,
        rows.filter((r) => inputKey(r) !== bad),
        attempts,
        out,
      );
    }
    // A refused request, or a response still malformed after the embedder's retries, may be
    // caused by one input: halve the batch to find it instead of failing every row.
    if ((!isRetryable(error) || error instanceof InvalidResponseError) && keys.length > 1) {
      const half = new Set(keys.slice(0, Math.ceil(keys.length / 2)));
      await embedPart(
        ctx,
        rows.filter((r) => half.has(inputKey(r))),
        attempts,
        out,
      );
      return embedPart(
        ctx,
        rows.filter((r) => !half.has(inputKey(r))),
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
  const byKey = new Map(keys.map((k, i) => [k, vectors[i]!]));
  const written = await writeIfCurrent(
    ctx.db,
    ctx.source,
    ctx.profile,
    rows.map((r) => ({ docId: r.docId, vector: byKey.get(inputKey(r))!, contentHash: r.contentHash })),
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
