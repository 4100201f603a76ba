import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError, readBeirDataset } from '../../src/eval/beir.js';
import { writeTinyDataset } from './fixture.js';

async function failure(promise: Promise<unknown>): Promise<DatasetError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DatasetError);
  return error as DatasetError;
}

describe('reading a BEIR directory', () => {
  it('keeps the judged queries in file order and counts what it leaves out', async () => {
    const dir = writeTinyDataset();
    const d = await readBeirDataset(dir);
    expect(d).toMatchObject({
      dir,
      split: 'test',
      corpusFile: join(dir, 'corpus.jsonl'),
      qrelsFile: join(dir, 'qrels', 'test.tsv'),
      stats: { queriesInFile: 6, qrelsRows: 7, queriesWithoutJudgments: 1, unknownQueries: 1, duplicateJudgments: 0 },
    });
    expect(d.queries.map((q) => q.id)).toEqual(['q1', 'q2', 'q3', 'q4', 'q5']);
    expect(d.qrels.get('q2')).toEqual(
      new Map([
        ['d3', 2],
        ['d6', 1],
      ]),
    );
    expect(d.qrels.has('q404')).toBe(false);
    expect(d.warnings).toEqual([expect.stringMatching(/1 query ids in .*test\.tsv are not in .*queries\.jsonl/)]);
  });

  it('reads a qrels file without a header, with CRLF line ends, numeric ids and repeated equal judgments', async () => {
    const dir = writeTinyDataset({
      queries: '{"_id": 7, "text": "seven"}\r\n{"_id": "8", "text": "eight", "metadata": {}}\r\n',
      qrels: '7\td1\t1\r\n7\td1\t1\r\n8\td2\t-1\r\n\r\n',
    });
    const d = await readBeirDataset(dir);
    expect(d.queries).toEqual([
      { id: '7', text: 'seven' },
      { id: '8', text: 'eight' },
    ]);
    expect(d.qrels.get('8')).toEqual(new Map([['d2', -1]]));
    expect(d.stats).toMatchObject({ qrelsRows: 3, duplicateJudgments: 1 });
    expect(d.warnings).toEqual([expect.stringMatching(/1 repeated judgments/)]);
  });

  it('refuses a fractional score on the first line instead of taking the line for a header', async () => {
    const dir = writeTinyDataset({ qrels: 'q1\td1\t1.5\nq1\td2\t1\n' });
    const error = await failure(readBeirDataset(dir));
    expect(error.message).toMatch(/test\.tsv:1: score "1\.5" is not a whole number/);
  });

  it('reads another split with --split', async () => {
    const dir = writeTinyDataset();
    writeFileSync(join(dir, 'qrels', 'dev.tsv'), 'query-id\tcorpus-id\tscore\nq3\td4\t1\n');
    const d = await readBeirDataset(dir, { split: 'dev' });
    expect(d.queries.map((q) => q.id)).toEqual(['q3']);
  });

  it('names a missing directory or file (exit 2)', async () => {
    const missing = await failure(readBeirDataset('/nonexistent/beir'));
    expect(missing).toMatchObject({ code: 'DATASET_NOT_FOUND', exitCode: 2 });
    expect(missing.message).toMatch(/dataset directory \/nonexistent\/beir does not exist/);

    const dir = writeTinyDataset();
    const noSplit = await failure(readBeirDataset(dir, { split: 'train' }));
    expect(noSplit.message).toBe(
      `${join(dir, 'qrels', 'train.tsv')}: no such file (the train judgments: query-id<TAB>corpus-id<TAB>score; --split picks another file)`,
    );
    expect((await failure(readBeirDataset(dir, { split: '../x' }))).exitCode).toBe(2);

    rmSync(join(dir, 'corpus.jsonl'));
    expect((await failure(readBeirDataset(dir))).message).toMatch(/corpus\.jsonl: no such file/);
  });

  it.each([
    ['qrels', 'query-id\tcorpus-id\tscore\nq1\td1\n', 'test.tsv:2: expected 3 tab-separated fields'],
    [
      'qrels',
      'q1\td1\t1\nq1 d2 1\n',
      'test.tsv:2: expected 3 tab-separated fields (query-id, corpus-id, score), got 1',
    ],
    ['qrels', 'q1\td1\t1\nq1\td2\thigh\n', 'test.tsv:2: score "high" is not a whole number'],
    ['qrels', 'q1\td1\t1\nq1\td2\t0.5\n', 'test.tsv:2: score "0.5" is not a whole number'],
    ['qrels', 'q1\t\t1\n', 'test.tsv:1: empty query-id or corpus-id'],
    [
      'qrels',
      'x\ty\tz\nq1\td1\t1\n\nq1\td1\t2\n',
      'test.tsv:4: query "q1", document "d1" judged 2 here and 1 at line 2',
    ],
    ['queries', '{"_id": "q1", "text": "a"}\n{"_id": "q1"\n', 'queries.jsonl:2: invalid JSON'],
    [
      'queries',
      '{"_id": "q1", "text": "a"}\n\n{"_id": "q1", "text": "b"}\n',
      'queries.jsonl:3: duplicate query id "q1" (also at line 1)',
    ],
    ['queries', '{"_id": "q1", "text": "  "}\n', 'queries.jsonl:1: query "q1": "text" must be a non-empty string'],
    ['queries', '{"_id": 1.5, "text": "a"}\n', 'queries.jsonl:1: "_id" must be a non-empty string'],
    ['queries', '["q1", "a"]\n', 'queries.jsonl:1: expected a JSON object'],
  ] as const)('a bad %s file fails with its file and line: %s', async (file, content, message) => {
    const dir = writeTinyDataset({ [file]: content });
    const error = await failure(readBeirDataset(dir));
    expect(error).toMatchObject({ code: 'DATASET_INVALID', exitCode: 1 });
    expect(error.message).toContain(message);
    expect(error.message.startsWith(dir)).toBe(true);
  });

  it('rejects invalid UTF-8 with the line number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-beir-'));
    mkdirSync(join(dir, 'qrels'));
    writeFileSync(join(dir, 'corpus.jsonl'), '');
    writeFileSync(
      join(dir, 'queries.jsonl'),
      Buffer.from('{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "\xff"}\n', 'latin1'),
    );
    writeFileSync(join(dir, 'qrels', 'test.tsv'), 'q1\td1\t1\n');
    const error = await failure(readBeirDataset(dir));
    expect(error.message).toMatch(/queries\.jsonl:2: the line is not valid UTF-8/);
  });

  it('fails when no query has a judgment', async () => {
    const error = await failure(readBeirDataset(writeTinyDataset({ qrels: 'nobody\td1\t1\n' })));
    expect(error.message).toMatch(/no query of .* has a judgment/);
  });
});
