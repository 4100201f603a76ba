import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';

/**
 * A tiny BEIR dataset with answers a lexical hash profile gets in a known order. Documents
 * share no words except where a query is meant to match, so for each query the document with
 * the most shared words ranks first and the one with fewer shared words second:
 *
 * - q1 "banana cherry apple": d1 has all three words (rank 1). Judged d1 → Recall@1 1.
 * - q2 "piano violin guitar": d3 has all three (rank 1), d6 two of them (rank 2). Judged d3 (2),
 *   d6 (1) → Recall@1 0.5, Recall@5 1, MRR 1, nDCG@10 1 (the ideal order).
 * - q3 "jupiter saturn copper": d4 has two words (rank 1), d5 one (rank 2). Judged d5 only →
 *   Recall@1 0, Recall@5 1, MRR 0.5, nDCG@10 1/log2(3).
 * - q4 "quartz": judged d99, which is not in the corpus → every metric 0 (a counted warning).
 * - q5: judged grade 0 only → unjudged, out of the averages (but still run).
 * - q6: no judgment in the split → not run. The qrels also name q404, which queries.jsonl lacks.
 *
 * Means over the four judged queries: Recall@1 0.375, Recall@5/10/50 0.75, MRR@10 0.625,
 * nDCG@10 (2 + 1/log2(3)) / 4, Contain@50 0.75.
 */
export const TINY_EXPECTED = {
  recallAt1: 0.375,
  recallAt5: 0.75,
  recallAt10: 0.75,
  recallAt50: 0.75,
  mrrAt10: 0.625,
  ndcgAt10: (2 + 1 / Math.log2(3)) / 4,
  containAt50: 0.75,
  judgedQueries: 4,
  unjudgedQueries: 1,
};

const CORPUS = [
  { _id: 'd1', title: 'Fruit', text: 'apple banana cherry' },
  { _id: 'd2', title: '', text: 'dog elephant fox' },
  { _id: 'd3', title: '', text: 'guitar piano violin' },
  { _id: 'd4', title: '', text: 'mars jupiter saturn' },
  { _id: 'd5', title: '', text: 'copper iron zinc' },
  { _id: 'd6', title: '', text: 'piano violin drums' },
];

const QUERIES = [
  { _id: 'q1', text: 'banana cherry apple' },
  { _id: 'q2', text: 'piano violin guitar' },
  { _id: 'q3', text: 'jupiter saturn copper' },
  { _id: 'q4', text: 'quartz' },
  { _id: 'q5', text: 'elephant' },
  { _id: 'q6', text: 'never judged' },
];

const QRELS = [
  'query-id\tcorpus-id\tscore',
  'q1\td1\t1',
  'q2\td3\t2',
  'q2\td6\t1',
  'q3\td5\t1',
  'q4\td99\t1',
  'q5\td2\t0',
  'q404\td1\t1',
];

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** Writes the tiny dataset into a new temporary directory and returns its path. */
export function writeTinyDataset(files: { corpus?: string; queries?: string; qrels?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'reembed-beir-'));
  mkdirSync(join(dir, 'qrels'));
  writeFileSync(join(dir, 'corpus.jsonl'), files.corpus ?? jsonl(CORPUS));
  writeFileSync(join(dir, 'queries.jsonl'), files.queries ?? jsonl(QUERIES));
  writeFileSync(join(dir, 'qrels', 'test.tsv'), files.qrels ?? QRELS.join('\n') + '\n');
  return dir;
}

/** The SciFact subset beside the project root (never copied into the repository). */
export const SCIFACT_DIR = new URL('../../../shared/datasets/scifact-2k/', import.meta.url).pathname;

/** Fails, saying where the dataset belongs, when it is absent: these tests are never skipped. */
export function requireScifact(): string {
  if (!existsSync(join(SCIFACT_DIR, 'corpus.jsonl'))) {
    throw new Error(
      `the SciFact subset is absent: expected a BEIR directory at ${SCIFACT_DIR} (corpus.jsonl of 2,101 documents, ` +
        'queries.jsonl of 188 claims, qrels/test.tsv). Put ../shared/datasets/scifact-2k/ beside the project root; ' +
        'it is never copied into the repository.',
    );
  }
  return SCIFACT_DIR;
}

/** runEval takes an opened database and leaves closing it to its caller. */
export async function withDatabase<T>(target: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(target, { migrations });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/**
 * The tiny corpus with a `category` in each document's metadata but d2's. q2's relevant
 * documents (d3 music, d6 drums) span two categories; q4's (d99) is not in the corpus.
 */
export const TINY_CATEGORIES: Record<string, string> = {
  d1: 'fruit',
  d3: 'music',
  d4: 'space',
  d5: 'metal',
  d6: 'drums',
};

export function tinyCorpusWithCategories(): string {
  return jsonl(
    CORPUS.map((d) => (TINY_CATEGORIES[d._id] ? { ...d, metadata: { category: TINY_CATEGORIES[d._id] } } : d)),
  );
}
