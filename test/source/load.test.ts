import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { DOCUMENTS_TABLE } from '../../src/source/managed.js';
import { LoadError, loadDocuments, requireManagedSource } from '../../src/source/load.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const SCIFACT = new URL('../../../shared/datasets/scifact-2k/corpus.jsonl', import.meta.url).pathname;

const dir = mkdtempSync(join(tmpdir(), 'reembed-load-'));
let fileCounter = 0;
/** Writes JSON Lines (objects, or raw strings/buffers for broken lines) to a new file. */
function jsonl(lines: Array<unknown>, options: { eol?: string; bom?: boolean } = {}): string {
  const path = join(dir, `f${++fileCounter}.jsonl`);
  const parts = lines.map((l) =>
    typeof l === 'string' ? Buffer.from(l) : Buffer.isBuffer(l) ? l : Buffer.from(JSON.stringify(l)),
  );
  const eol = Buffer.from(options.eol ?? '\n');
  const body = Buffer.concat(parts.flatMap((p) => [p, eol]));
  writeFileSync(path, options.bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) : body);
  return path;
}

interface Row {
  id: string;
  content: string;
  metadata: Record<string, unknown>;
}

describe.each(BACKENDS)('reembed load on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
  });
  afterAll(() => db.close());
  beforeEach(() => db.exec(`DELETE FROM ${DOCUMENTS_TABLE}`));

  const rows = async (): Promise<Row[]> =>
    (await db.query<Row>(`SELECT id, content, metadata FROM ${DOCUMENTS_TABLE} ORDER BY id COLLATE "C"`)).rows;

  it('loads a BEIR corpus: title and text joined, title and metadata kept', async () => {
    const file = jsonl([
      { _id: 'd1', title: 'A title', text: 'Body one.', metadata: { year: 2020 } },
      { _id: 'd2', title: '', text: 'Body two.' },
      { _id: 'd3', text: 'No title key.', metadata: {} },
    ]);
    const result = await loadDocuments(db, file);
    expect(result).toMatchObject({ file, format: 'beir', rows: 3, inserted: 3, updated: 0, unchanged: 0 });
    expect(await rows()).toEqual([
      { id: 'd1', content: 'A title\n\nBody one.', metadata: { year: 2020, title: 'A title' } },
      { id: 'd2', content: 'Body two.', metadata: { title: '' } },
      { id: 'd3', content: 'No title key.', metadata: {} },
    ]);
  });

  it('loads plain documents: numeric ids as decimal text, text or content, other keys as metadata', async () => {
    const file = jsonl([
      { id: 7, text: 'seven', lang: 'en', tags: ['a', 'b'] },
      { id: 'x', content: 'from content', metadata: { source: 'wiki' }, rank: 2 },
      { id: -12, text: '' },
    ]);
    const result = await loadDocuments(db, file, { format: 'auto' });
    expect(result).toMatchObject({ format: 'plain', rows: 3, inserted: 3 });
    expect(await rows()).toEqual([
      { id: '-12', content: '', metadata: {} },
      { id: '7', content: 'seven', metadata: { lang: 'en', tags: ['a', 'b'] } },
      { id: 'x', content: 'from content', metadata: { source: 'wiki', rank: 2 } },
    ]);
  });

  it('round-trips quotes, backslashes, unicode and newlines in ids and texts exactly (CRLF file with a BOM)', async () => {
    const docs = [
      { id: `it's "quoted" \\ back`, text: `He said "hi" \\n isn't a newline; this is:\nand a CR LF:\r\nend` },
      { id: 'emoji 🚀 中文 é', text: 'surrogate pairs 𝄞 and combining e\u0301, zero-width\u200b, tab\t' },
      { id: 'multi\nline id', text: '  leading and trailing spaces  ' },
      { id: ' ', text: 'ends with a backslash \\' },
    ];
    const file = jsonl(docs, { eol: '\r\n', bom: true });
    const result = await loadDocuments(db, file, { format: 'plain', batchSize: 3 });
    expect(result).toMatchObject({ rows: 4, inserted: 4 });
    const got = await rows();
    expect(got.map((r) => ({ id: r.id, text: r.content }))).toEqual(
      [...docs].sort((a, b) => Buffer.compare(Buffer.from(a.id), Buffer.from(b.id))),
    );
  });

  it('reports rows unchanged on a re-load, and counts updates and inserts separately', async () => {
    const docs = Array.from({ length: 1203 }, (_, i) => ({ id: `doc-${i}`, text: `text ${i}` }));
    const file = jsonl(docs);
    const progress: number[] = [];
    const first = await loadDocuments(db, file, { onProgress: (p) => progress.push(p.bytesRead) });
    expect(first).toMatchObject({ rows: 1203, inserted: 1203, updated: 0, unchanged: 0 });
    // 500 rows per batch: three progress reports, the last one at the end of the file.
    expect(progress).toHaveLength(3);
    expect(progress.at(-1)).toBe(readFileSync(file).length);
    const again = await loadDocuments(db, file);
    expect(again).toMatchObject({ rows: 1203, inserted: 0, updated: 0, unchanged: 1203 });
    expect(again.rowsPerSecond).toBeGreaterThan(0);
    const changed = jsonl([
      { id: 'doc-0', text: 'new text' },
      { id: 'doc-1', text: 'text 1' },
      { id: 'new', text: 'n' },
    ]);
    expect(await loadDocuments(db, changed)).toMatchObject({ rows: 3, inserted: 1, updated: 1, unchanged: 1 });
  });

  it('reads a stream (as from stdin) and an empty input', async () => {
    const stream = Readable.from([Buffer.from('{"id":"s1","text":"one"}\n{"id":"s'), Buffer.from('2","text":"two"}')]);
    expect(await loadDocuments(db, { stream, name: '<stdin>', size: null })).toMatchObject({
      file: '<stdin>',
      rows: 2,
    });
    const empty = await loadDocuments(db, jsonl(['', '  ']));
    expect(empty).toMatchObject({ rows: 0, format: null, inserted: 0 });
  });

  describe('bad input: a typed error naming the file and line, and the table unchanged', () => {
    // Enough good lines before the bad one to span several committed-looking batches.
    const good = Array.from({ length: 7 }, (_, i) => ({ id: `g${i}`, text: `good ${i}` }));
    const cases: Array<[string, unknown, RegExp]> = [
      ['invalid JSON', '{"id": "b", "text": oops}', /invalid JSON/],
      ['a line that is not an object', '["b", "text"]', /expected a JSON object, got an array/],
      ['a missing id', { text: 'no id' }, /missing "id"/],
      ['an empty id', { id: '', text: 'x' }, /"id" is empty/],
      ['an id of the wrong type', { id: true, text: 'x' }, /"id" must be a string or a whole number/],
      ['an id that lost digits', '{"id": 12345678901234567890, "text": "x"}', /not a whole number below 2\^53/],
      ['a missing text', { id: 'b' }, /missing "text"/],
      ['a non-string text', { id: 'b', text: 42 }, /"text" must be a string, got number 42/],
      ['both text and content', { id: 'b', text: 'x', content: 'y' }, /both "text" and "content"/],
      ['a NUL in the text', { id: 'b', text: 'nul \u0000 here' }, /"text" contains a NUL character/],
      ['a NUL in the id', { id: 'b\u0000', text: 'x' }, /"id" contains a NUL character/],
      ['a NUL in metadata', { id: 'b', text: 'x', note: 'a\u0000' }, /"metadata.note" contains a NUL character/],
      ['an unpaired surrogate', '{"id": "b", "text": "\\ud800 alone"}', /unpaired UTF-16 surrogate/],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x69, 0xff, 0x22, 0x7d]), /not valid UTF-8/],
    ];

    it.each(cases)('%s', async (_name, bad, reason) => {
      await loadDocuments(db, jsonl([{ id: 'kept', text: 'before' }]));
      const before = await rows();
      const file = jsonl([...good, bad, { id: 'after', text: 'after' }]);
      const error = await loadDocuments(db, file, { format: 'plain', batchSize: 2 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(LoadError);
      const e = error as LoadError;
      expect(e.code).toBe('LOAD_INVALID');
      expect(e.exitCode).toBe(1);
      expect(e.message).toContain(`${file}:8: `);
      expect(e.message).toMatch(reason);
      expect(e.details).toMatchObject({ file, line: 8 });
      expect(await rows()).toEqual(before);
    });

    it('a duplicate id, with both line numbers, across batches and within one', async () => {
      const before = await rows();
      for (const batchSize of [2, 500]) {
        const file = jsonl([...good, '', { id: 'g3', text: 'again' }]);
        const error = (await loadDocuments(db, file, { batchSize }).catch((e: unknown) => e)) as LoadError;
        expect(error).toBeInstanceOf(LoadError);
        expect(error.message).toContain(`${file}:9: duplicate id "g3" (also at line 4)`);
        expect(error.details).toMatchObject({ line: 9, lines: [4, 9], id: 'g3' });
      }
      expect(await rows()).toEqual(before);
    });

    it('a file that does not exist is a usage error (exit 2)', async () => {
      const error = (await loadDocuments(db, join(dir, 'nope.jsonl')).catch((e: unknown) => e)) as LoadError;
      expect(error).toMatchObject({ code: 'LOAD_FILE', exitCode: 2 });
      expect(error.message).toMatch(/nope\.jsonl: no such file/);
    });
  });

  it('SciFact (2,101 BEIR documents) loads completely and exactly', async () => {
    if (!existsSync(SCIFACT)) {
      throw new Error(
        `the SciFact subset is absent: expected ${SCIFACT} (BEIR corpus.jsonl of 2,101 documents). ` +
          'Provide ../shared/datasets/scifact-2k/ beside the project root; it is never copied into the repository.',
      );
    }
    const result = await loadDocuments(db, SCIFACT);
    expect(result).toMatchObject({ format: 'beir', rows: 2101, inserted: 2101, updated: 0, unchanged: 0 });
    const { rows: count } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${DOCUMENTS_TABLE}`);
    expect(count[0]!.n).toBe(2101);
    const line = readFileSync(SCIFACT, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('{"_id": "7912"'))!;
    const source = JSON.parse(line) as { title: string; text: string };
    const { rows: doc } = await db.query<Row>(`SELECT content, metadata FROM ${DOCUMENTS_TABLE} WHERE id = '7912'`);
    expect(doc[0]!.content).toBe(source.title ? `${source.title}\n\n${source.text}` : source.text);
    expect(doc[0]!.content).toMatch(/^ID elements are short interspersed elements \(SINEs\)/);
    process.stderr.write(
      `[${backend}] SciFact: ${result.rows} rows in ${result.seconds.toFixed(2)} s (${result.rowsPerSecond.toFixed(0)} rows/s)\n`,
    );
  });
});

describe('reembed load refuses attach mode', () => {
  it('names the attached table', () => {
    expect(() => requireManagedSource({ table: 'public.articles', id: 'id', text: '{body}' })).toThrow(
      /attaches public\.articles/,
    );
  });
});
