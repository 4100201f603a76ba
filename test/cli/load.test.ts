import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const corpus = (docs: object[]) => docs.map((d) => JSON.stringify(d)).join('\n') + '\n';

describe('reembed load', () => {
  it('imports a BEIR file after init, reports the summary, and finds it unchanged on a re-load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-load-'));
    const init = await runCli(['init'], { cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    writeFileSync(
      join(dir, 'corpus.jsonl'),
      corpus([
        { _id: 'a', title: 'Title', text: 'first "quoted" text' },
        { _id: 'b', title: '', text: 'second\ntext 🚀' },
      ]),
    );
    const first = await runCli(['load', 'corpus.jsonl', '--json'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ format: 'beir', rows: 2, inserted: 2, updated: 0, unchanged: 0 });

    const again = await runCli(['load', 'corpus.jsonl'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/2 rows read: 0 inserted, 0 updated, 2 unchanged/);
    expect(again.stdout).toMatch(/rows\/s/);
  });

  it('exits 1 naming the file and line of a bad document, leaving the table as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-load-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, 'ok.jsonl'), corpus([{ id: 1, text: 'one' }]));
    writeFileSync(join(dir, 'bad.jsonl'), corpus([{ id: 2, text: 'two' }, { id: 3 }]));
    expect((await runCli(['load', 'ok.jsonl'], { cwd: dir })).code).toBe(0);
    const bad = await runCli(['load', 'bad.jsonl', '--json'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.jsonl:2: missing "text"/);
    expect(JSON.parse(bad.stdout).error).toMatchObject({ code: 'LOAD_INVALID', details: { line: 2 } });
    const reload = await runCli(['load', 'ok.jsonl', '--json'], { cwd: dir });
    // Document 2 of the failed load was never written: the table still holds only document 1.
    expect(JSON.parse(reload.stdout)).toMatchObject({ rows: 1, unchanged: 1 });
    const plain = await runCli(['load', 'bad.jsonl', '--format', 'beir'], { cwd: dir });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/bad\.jsonl:1: missing "_id"/);
  });

  it('exits 2 on a missing file, an unknown format, and in attach mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-load-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    const missing = await runCli(['load', 'nope.jsonl'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read nope\.jsonl: no such file/);
    expect((await runCli(['load', 'x.jsonl', '--format', 'csv'], { cwd: dir })).code).toBe(2);

    writeFileSync(
      join(dir, 'attach.yaml'),
      'source: { table: public.articles, id: id, text: "{body}" }\nprofiles:\n  p: { provider: hash, dims: 8 }\n',
    );
    const attach = await runCli(['--config', 'attach.yaml', 'load', 'nope.jsonl'], { cwd: dir });
    expect(attach.code).toBe(2);
    expect(attach.stderr).toMatch(/this manifest attaches public\.articles/);
  });
});
