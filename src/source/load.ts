import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { SourceConfig } from '../config/manifest.js';
import type { Database, Queryable } from '../db/database.js';
import { DatabaseError, ReembedError } from '../errors.js';
import {
  DEFAULT_LOAD_BATCH_SIZE,
  detectShape,
  ShapeError,
  toDocument,
  type DocumentShape,
  type LoadFormat,
} from './document-shapes.js';
import { LineDecodeError, readJsonLines } from './jsonl.js';
import { upsertStagedDocuments, type DocumentInput } from './managed.js';
import { encodeCopy } from '../db/copy-binary.js';

/**
 * A load that cannot proceed. LOAD_INVALID (exit 1): a line of the file is not a valid
 * document; the message names the file and line, and nothing was written. LOAD_FILE (exit 2):
 * the file cannot be read. LOAD_NOT_MANAGED (exit 2): the manifest attaches a table of its own.
 */
export class LoadError extends ReembedError {
  constructor(
    code: 'LOAD_INVALID' | 'LOAD_FILE' | 'LOAD_NOT_MANAGED',
    message: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(code, message, { exitCode: code === 'LOAD_INVALID' ? 1 : 2, details, cause });
  }
}

export interface LoadInput {
  stream: Readable;
  /** How messages name the input: the path as given, or `<stdin>`. */
  name: string;
  /** Bytes in the input when known (a regular file), for progress. */
  size: number | null;
}

export interface LoadProgress {
  rows: number;
  bytesRead: number;
  totalBytes: number | null;
}

export interface LoadOptions {
  format?: LoadFormat;
  /** Documents per INSERT statement. */
  batchSize?: number;
  /** Longest line accepted; only one line is ever held in memory. */
  maxLineBytes?: number;
  onProgress?: (progress: LoadProgress) => void;
}

export interface LoadResult {
  file: string;
  /** The shape read; null for an input without documents under `auto`. */
  format: DocumentShape | null;
  rows: number;
  inserted: number;
  updated: number;
  unchanged: number;
  seconds: number;
  rowsPerSecond: number;
}

export { DEFAULT_LOAD_BATCH_SIZE };
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Refuses attach mode: `load` writes reembed's own documents table, never a user's table. */
export function requireManagedSource(source: SourceConfig): void {
  if (source.managed !== true) {
    throw new LoadError(
      'LOAD_NOT_MANAGED',
      `reembed load writes the managed documents table, but this manifest attaches ${source.table}; ` +
        'load your documents into that table with your own tools (reembed reads it in place)',
      { table: source.table },
    );
  }
}

/** A file path, or `-` for stdin. */
export function openLoadInput(path: string): LoadInput {
  if (path === '-') return { stream: process.stdin, name: '<stdin>', size: null };
  let size: number | null;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    // A FIFO or device (process substitution, /dev/stdin) has no size; progress counts rows only.
    size = stat.isFile() ? stat.size : null;
  } catch (error) {
    throw fileError(path, error);
  }
  return { stream: createReadStream(path, { highWaterMark: 1 << 20 }), name: path, size };
}

function fileError(name: string, error: unknown): LoadError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
  return new LoadError('LOAD_FILE', `cannot read ${name}: ${reason}`, { file: name, code }, error);
}

function invalid(input: LoadInput, line: number, reason: string, extra: Record<string, unknown> = {}): LoadError {
  return new LoadError(
    'LOAD_INVALID',
    `${input.name}:${line}: ${reason}; nothing was loaded (the whole file loads in one transaction)`,
    { file: input.name, line, reason, ...extra },
  );
}

/**
 * Imports JSON Lines into the managed source, streaming, in batches.
 *
 * The whole file loads in ONE transaction rather than in a validating first pass and a writing
 * second: stdin can be read only once, one pass reads the file once, and a failure of any kind
 * (a bad line at row 90,000, a lost connection, a killed process) leaves the table exactly as
 * it was, which a separate validation pass cannot promise. The cost is a long transaction on a
 * server, whose row locks hold back concurrent writers of the same ids until it commits.
 *
 * Duplicate ids within the file are an error naming both lines, not "last wins": in a corpus a
 * repeated id is almost always a bug, and last-wins would hide it. The ids seen so far live in
 * a temporary table (dropped at commit), not in memory, so a file of any size can be checked.
 */
export async function loadDocuments(
  db: Database,
  source: LoadInput | string,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const input = typeof source === 'string' ? openLoadInput(source) : source;
  const batchSize = options.batchSize ?? DEFAULT_LOAD_BATCH_SIZE;
  const started = performance.now();
  let shape: DocumentShape | null = options.format && options.format !== 'auto' ? options.format : null;
  const totals = { rows: 0, inserted: 0, updated: 0 };

  try {
    await db.transaction(async (tx) => {
      await tx.exec(
        `CREATE TEMP TABLE ${SEEN} (id text PRIMARY KEY, line integer NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE ${STAGE} (id text NOT NULL, content text NOT NULL, metadata text NOT NULL, line text NOT NULL)
           ON COMMIT DROP`,
      );
      type Batch = Array<DocumentInput & { line: number }>;
      let batch: Batch = [];
      let bytesRead = 0;
      const flush = async (docs: Batch, read: number) => {
        // Each batch goes in by binary COPY (no escaping, no parameter arrays), then two
        // set-based statements: the duplicate check and the upsert.
        await tx.exec(`TRUNCATE ${STAGE}`);
        const staged = await tx.copyFrom(
          `${STAGE} (id, content, metadata, line)`,
          encodeCopy(docs.map((d) => [d.id, d.content, JSON.stringify(d.metadata ?? {}), String(d.line)])),
        );
        if (staged !== docs.length) throw new Error(`staging COPY took ${staged} of ${docs.length} documents`);
        await checkDuplicates(tx, input, docs);
        const counts = await upsertStagedDocuments(tx, STAGE);
        totals.inserted += counts.inserted;
        totals.updated += counts.updated;
        totals.rows += docs.length;
        options.onProgress?.({ rows: totals.rows, bytesRead: read, totalBytes: input.size });
      };
      // One batch is written while the next is read and parsed: the server's work and the
      // client's overlap. Never more than one, so the statements stay in file order, and the
      // last one always settles before the transaction ends (commit or rollback): no
      // statement of this load may run after its ROLLBACK, outside the transaction.
      let pending: Promise<void> | null = null;
      const handOff = async () => {
        await pending;
        const docs = batch;
        batch = [];
        pending = flush(docs, bytesRead);
        pending.catch(() => {}); // awaited at the next hand-off or at the end
      };
      try {
        for await (const line of readJsonLines(input.stream, {
          maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
        })) {
          let value: unknown;
          try {
            value = JSON.parse(line.text);
          } catch (error) {
            throw invalid(input, line.lineNumber, `invalid JSON (${(error as Error).message})`);
          }
          shape ??= detectShape(value);
          try {
            batch.push({ ...toDocument(value, shape), line: line.lineNumber });
          } catch (error) {
            if (error instanceof ShapeError) throw invalid(input, line.lineNumber, error.message);
            throw error;
          }
          bytesRead = line.bytesRead;
          if (batch.length >= batchSize) await handOff();
        }
        bytesRead = input.size ?? bytesRead;
        if (batch.length > 0) await handOff();
        await pending;
      } finally {
        await (pending as Promise<void> | null)?.catch(() => {});
      }
    });
  } catch (error) {
    throw classify(input, error);
  } finally {
    // A stream this function opened is closed here, also when the load failed before reading.
    if (typeof source === 'string' && input.stream !== process.stdin) input.stream.destroy();
  }

  const seconds = (performance.now() - started) / 1000;
  return {
    file: input.name,
    format: shape,
    rows: totals.rows,
    inserted: totals.inserted,
    updated: totals.updated,
    unchanged: totals.rows - totals.inserted - totals.updated,
    seconds,
    rowsPerSecond: seconds > 0 ? totals.rows / seconds : 0,
  };
}

/** Ids of this load so far, with their line numbers; temporary, so private to the session. */
const SEEN = 'pg_temp.reembed_load_seen';
/** The batch being loaded, COPYed in binary (metadata as JSON text, cast in the upsert). */
const STAGE = 'pg_temp.reembed_load_stage';

async function checkDuplicates(tx: Queryable, input: LoadInput, batch: Array<{ id: string; line: number }>) {
  const { rows } = await tx.query<{ line: number }>(
    `INSERT INTO ${SEEN} (id, line) SELECT id, line::integer FROM ${STAGE} ORDER BY line::integer ON CONFLICT (id) DO NOTHING RETURNING line`,
  );
  if (rows.length === batch.length) return;
  const kept = new Set(rows.map((r) => r.line));
  const repeat = batch.find((d) => !kept.has(d.line))!;
  const { rows: first } = await tx.query<{ line: number }>(`SELECT line FROM ${SEEN} WHERE id = $1`, [repeat.id]);
  const lines = [first[0]!.line, repeat.line].sort((a, b) => a - b);
  throw invalid(
    input,
    lines[1]!,
    `duplicate id ${JSON.stringify(repeat.id)} (also at line ${lines[0]}); ids must be unique within a file`,
    {
      id: repeat.id,
      lines,
    },
  );
}

function classify(input: LoadInput, error: unknown): Error {
  if (error instanceof ReembedError) return error;
  if (error instanceof LineDecodeError) return invalid(input, error.lineNumber, error.message);
  if ((error as NodeJS.ErrnoException | null)?.syscall) return fileError(input.name, error);
  return new DatabaseError(
    `loading ${input.name} failed: ${(error as Error).message ?? String(error)}; nothing was loaded`,
    error,
  );
}
