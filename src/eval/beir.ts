import { createReadStream, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Queryable } from '../db/database.js';
import { ReembedError } from '../errors.js';
import { LineDecodeError, readJsonLines } from '../source/jsonl.js';
import { missingDocuments } from '../source/managed.js';
import type { Qrels } from './metrics.js';

/**
 * A BEIR dataset directory: corpus.jsonl, queries.jsonl and qrels/<split>.tsv. The corpus is
 * not read here: it is streamed into the managed source by the loader (source/load.ts), which
 * validates it line by line. Queries and judgments are small and kept in memory.
 *
 * DATASET_NOT_FOUND (exit 2): the directory or one of its files is missing or unreadable.
 * DATASET_INVALID (exit 1, like a bad line in `reembed load`): a line of queries.jsonl or of
 * the qrels file is malformed; the message names the file and line.
 */
export class DatasetError extends ReembedError {
  constructor(code: 'DATASET_NOT_FOUND' | 'DATASET_INVALID', message: string, details: Record<string, unknown> = {}) {
    super(code, message, { exitCode: code === 'DATASET_NOT_FOUND' ? 2 : 1, details });
  }
}

export interface EvalQuery {
  id: string;
  text: string;
}

export interface BeirDataset {
  /** The directory's name, e.g. `scifact-2k`. */
  name: string;
  /** The directory as given. */
  dir: string;
  split: string;
  corpusFile: string;
  queriesFile: string;
  qrelsFile: string;
  /**
   * The queries to run: those with a judgment in the split, in queries.jsonl order. BEIR does
   * the same (queries.jsonl usually holds every split's queries), and a query without any
   * judgment could not enter the averages anyway.
   */
  queries: EvalQuery[];
  qrels: Qrels;
  stats: {
    queriesInFile: number;
    qrelsRows: number;
    /** Queries in queries.jsonl with no judgment in this split: not run. */
    queriesWithoutJudgments: number;
    /** Query ids in the qrels that queries.jsonl lacks: cannot be run, left out. */
    unknownQueries: number;
    /** Rows repeating a (query, document) pair with the same grade: ignored. */
    duplicateJudgments: number;
  };
  /** Human sentences about everything counted above that is not zero. */
  warnings: string[];
}

/** A split name becomes a file name, so it may not climb out of qrels/. */
const SPLIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MAX_LINE_BYTES = 16 * 1024 * 1024;

function requireFile(path: string, what: string): void {
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // missing or unreadable: reported below
  }
  if (!isFile) {
    throw new DatasetError('DATASET_NOT_FOUND', `${path}: no such file (${what})`, { file: path });
  }
}

/** Reads the queries and judgments of a BEIR directory and checks that the corpus file is there. */
export async function readBeirDataset(dir: string, options: { split?: string } = {}): Promise<BeirDataset> {
  const split = options.split ?? 'test';
  if (!SPLIT_NAME.test(split)) {
    throw new DatasetError('DATASET_NOT_FOUND', `split ${JSON.stringify(split)} is not a file name like test or dev`);
  }
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new DatasetError(
      'DATASET_NOT_FOUND',
      `dataset directory ${dir} does not exist; a BEIR dataset is a directory with corpus.jsonl, queries.jsonl and qrels/${split}.tsv`,
      { dir },
    );
  }
  const corpusFile = join(dir, 'corpus.jsonl');
  const queriesFile = join(dir, 'queries.jsonl');
  const qrelsFile = join(dir, 'qrels', `${split}.tsv`);
  requireFile(corpusFile, 'the BEIR corpus: one {"_id", "title", "text"} per line');
  requireFile(queriesFile, 'the BEIR queries: one {"_id", "text"} per line');
  requireFile(qrelsFile, `the ${split} judgments: query-id<TAB>corpus-id<TAB>score; --split picks another file`);

  const { queries: allQueries } = await readQueries(queriesFile);
  const { qrels: rawQrels, rows, duplicates } = await readQrels(qrelsFile);
  const known = new Set(allQueries.map((q) => q.id));
  const qrels: Qrels = new Map([...rawQrels].filter(([id]) => known.has(id)));
  const queries = allQueries.filter((q) => qrels.has(q.id));
  const stats = {
    queriesInFile: allQueries.length,
    qrelsRows: rows,
    queriesWithoutJudgments: allQueries.length - queries.length,
    unknownQueries: rawQrels.size - qrels.size,
    duplicateJudgments: duplicates,
  };
  const warnings: string[] = [];
  if (stats.unknownQueries) {
    warnings.push(`${stats.unknownQueries} query ids in ${qrelsFile} are not in ${queriesFile}: left out`);
  }
  if (stats.duplicateJudgments) {
    warnings.push(`${stats.duplicateJudgments} repeated judgments (same query, document and grade) in ${qrelsFile}`);
  }
  if (queries.length === 0) {
    throw new DatasetError('DATASET_INVALID', `no query of ${queriesFile} has a judgment in ${qrelsFile}`, {
      file: qrelsFile,
    });
  }
  return {
    name: basename(resolve(dir)),
    dir,
    split,
    corpusFile,
    queriesFile,
    qrelsFile,
    queries,
    qrels,
    stats,
    warnings,
  };
}

function invalid(file: string, line: number, reason: string): DatasetError {
  return new DatasetError('DATASET_INVALID', `${file}:${line}: ${reason}`, { file, line, reason });
}

async function* lines(file: string): AsyncGenerator<{ lineNumber: number; text: string }> {
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const line of readJsonLines(stream, { maxLineBytes: MAX_LINE_BYTES })) yield line;
  } catch (error) {
    if (error instanceof LineDecodeError) throw invalid(file, error.lineNumber, error.message);
    if ((error as NodeJS.ErrnoException | null)?.syscall) {
      throw new DatasetError('DATASET_NOT_FOUND', `cannot read ${file}: ${(error as Error).message}`, { file });
    }
    throw error;
  } finally {
    stream.destroy();
  }
}

/** Ids as in the loader: text, or a whole number that JSON kept exact. */
function queryId(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}

/** queries.jsonl: `{"_id", "text"}` per line; other keys (metadata) are ignored. */
export async function readQueries(file: string): Promise<{ queries: EvalQuery[] }> {
  const queries: EvalQuery[] = [];
  const seen = new Map<string, number>();
  for await (const line of lines(file)) {
    let value: unknown;
    try {
      value = JSON.parse(line.text);
    } catch (error) {
      throw invalid(file, line.lineNumber, `invalid JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid(file, line.lineNumber, 'expected a JSON object {"_id", "text"}');
    }
    const record = value as Record<string, unknown>;
    const id = queryId(record._id);
    if (id === null) {
      throw invalid(file, line.lineNumber, '"_id" must be a non-empty string or a whole number below 2^53');
    }
    // An empty query cannot be embedded; failing here names the line instead of the provider.
    if (typeof record.text !== 'string' || record.text.trim() === '') {
      throw invalid(file, line.lineNumber, `query ${JSON.stringify(id)}: "text" must be a non-empty string`);
    }
    const first = seen.get(id);
    if (first !== undefined) {
      throw invalid(file, line.lineNumber, `duplicate query id ${JSON.stringify(id)} (also at line ${first})`);
    }
    seen.set(id, line.lineNumber);
    queries.push({ id, text: record.text });
  }
  return { queries };
}

/**
 * qrels/<split>.tsv: `query-id<TAB>corpus-id<TAB>score`, whole-number grades (> 0 relevant,
 * as trec_eval reads them). The first line is BEIR's header when its score column is not a
 * number (a fractional first score is an error, not a header); files without a header are read too. A pair judged twice with the same grade is
 * counted and ignored; with two different grades it is an error naming both lines, because
 * either choice would silently change the figures.
 */
export async function readQrels(file: string): Promise<{ qrels: Qrels; rows: number; duplicates: number }> {
  const qrels: Qrels = new Map();
  const where = new Map<string, number>();
  let rows = 0;
  let duplicates = 0;
  let first = true;
  for await (const line of lines(file)) {
    const fields = line.text.split('\t');
    // A header's score column is a word (BEIR's is "score"): a number such as 1.5 is a bad grade, not a header.
    const isHeader = first && fields.length === 3 && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(fields[2]!.trim());
    first = false;
    if (isHeader) continue;
    if (fields.length !== 3) {
      throw invalid(
        file,
        line.lineNumber,
        `expected 3 tab-separated fields (query-id, corpus-id, score), got ${fields.length}`,
      );
    }
    const [queryId, docId, score] = fields.map((f) => f.trim()) as [string, string, string];
    if (!queryId || !docId) throw invalid(file, line.lineNumber, 'empty query-id or corpus-id');
    if (!/^-?\d+$/.test(score)) {
      throw invalid(file, line.lineNumber, `score ${JSON.stringify(score)} is not a whole number`);
    }
    const grade = Number(score);
    rows++;
    let judged = qrels.get(queryId);
    if (!judged) qrels.set(queryId, (judged = new Map()));
    const previous = judged.get(docId);
    const key = `${queryId}\t${docId}`;
    if (previous !== undefined) {
      if (previous !== grade) {
        throw invalid(
          file,
          line.lineNumber,
          `query ${JSON.stringify(queryId)}, document ${JSON.stringify(docId)} judged ${grade} here and ${previous} at line ${where.get(key)}`,
        );
      }
      duplicates++;
      continue;
    }
    judged.set(docId, grade);
    where.set(key, line.lineNumber);
  }
  return { qrels, rows, duplicates };
}

/**
 * Judged documents that the loaded corpus lacks. They are kept in the judgments, as trec_eval
 * and BEIR keep them: they count as relevant and can never be retrieved, so recall falls
 * short of 1. Refusing them would make subsets and some published datasets unusable; the
 * caller reports how many there are.
 */
export async function missingJudgedDocuments(conn: Queryable, qrels: Qrels): Promise<string[]> {
  const ids = [...new Set([...qrels.values()].flatMap((judged) => [...judged.keys()]))];
  return missingDocuments(conn, ids);
}
