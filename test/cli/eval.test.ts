import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBeirDataset } from '../../src/eval/beir.js';
import type { HistoryEntry } from '../../src/eval/history.js';
import { evaluateRankings } from '../../src/eval/metrics.js';
import type { EvalReport } from '../../src/eval/run.js';
import { TINY_EXPECTED, tinyCorpusWithCategories, writeTinyDataset } from '../eval/fixture.js';
import { checkTrecConventions, parseTrecRun, trecEvalRankings } from '../eval/trec-reader.js';
import { runCli } from '../helpers/cli.js';
import { createServerDatabase } from '../helpers/databases.js';

type EvalOutput = EvalReport & { files: { runs: string[]; history: string | null } };

describe('reembed eval', () => {
  let cwd: string;
  let dataset: string;
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), 'reembed-cli-eval-'));
    dataset = writeTinyDataset();
  });

  it('evaluates the built-in hash profiles, writes TREC run files and appends the history', async () => {
    const args = ['eval', '--dataset', dataset, '--profiles', 'hash_small,hash_large', '--run', 'runs', '--json'];
    const r = await runCli(args, { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no reembed\.yaml: using the built-in profiles hash_small and hash_large/);
    expect(r.stderr).toMatch(/backfill hash_large: 6 documents/);
    const out = JSON.parse(r.stdout) as EvalOutput;
    expect(out).toMatchObject({
      database: { target: 'memory://', kind: 'pglite' },
      dataset: { documents: 6, queries: 5, split: 'test', missingDocuments: 1 },
      k: 50,
      ann: false,
      comparisons: [{ control: 'hash_small', candidate: 'hash_large', k: 10 }],
    });
    expect(out.profiles.map((p) => p.profile)).toEqual(['hash_small', 'hash_large']);
    for (const p of out.profiles) {
      expect(p.exact.metrics).toEqual({ ...TINY_EXPECTED, ndcgAt10: expect.closeTo(TINY_EXPECTED.ndcgAt10, 12) });
      expect(p.ann).toBeNull();
      expect(Object.keys(p.embedLatency).sort()).toEqual(['maxMs', 'meanMs', 'p50Ms', 'p95Ms']);
    }

    // One run file per profile, in the format trec_eval reads, giving back the reported figures.
    expect(out.files.runs).toEqual([join('runs', 'hash_small.trec'), join('runs', 'hash_large.trec')]);
    const { qrels } = await readBeirDataset(dataset);
    for (const [i, p] of out.profiles.entries()) {
      const lines = parseTrecRun(readFileSync(join(cwd, out.files.runs[i]!), 'utf8'));
      checkTrecConventions(lines, p.profile);
      expect(new Set(lines.map((l) => l.qid))).toEqual(new Set(['q1', 'q2', 'q3', 'q4', 'q5']));
      expect(lines.filter((l) => l.qid === 'q1')).toHaveLength(6);
      expect(lines[0]).toMatchObject({ qid: 'q1', docid: 'd1', rank: 1 });
      expect(evaluateRankings(trecEvalRankings(lines), qrels).summary).toEqual(p.exact.metrics);
    }

    // The default history file, one line per run.
    const historyFile = join(cwd, '.reembed', 'eval-history.jsonl');
    expect(out.files.history).toBe(historyFile);
    const again = await runCli(['eval', '--dataset', dataset, '--profiles', 'hash_small'], { cwd });
    expect(again.code, again.stderr).toBe(0);
    const entries = readFileSync(historyFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as HistoryEntry);
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      time: out.startedAt,
      dataset: { name: out.dataset.name, dir: dataset, split: 'test', documents: 6, queries: 5 },
      database: 'pglite',
      k: 50,
      profiles: [
        {
          profile: 'hash_small',
          fingerprint: out.profiles[0]!.fingerprint,
          dims: 256,
          exact: out.profiles[0]!.exact.metrics,
        },
        { profile: 'hash_large', fingerprint: out.profiles[1]!.fingerprint, dims: 1024 },
      ],
      comparisons: out.comparisons,
    });
    expect(entries[1]!.profiles.map((p) => p.profile)).toEqual(['hash_small']);
    expect(entries[1]!.comparisons).toEqual([]);
    // Per-query nDCG@10 is kept, so two runs can be compared query by query.
    expect(Object.keys(entries[0]!.profiles[0]!.perQuery!.ndcgAt10)).toHaveLength(
      out.profiles[0]!.exact.metrics.judgedQueries,
    );
    const compared = await runCli(['eval', 'compare', '--json'], { cwd });
    expect(compared.code, compared.stderr).toBe(0);
    const c = JSON.parse(compared.stdout);
    // The same profile, configuration and data twice: every query unchanged.
    expect(c.profiles).toHaveLength(1);
    expect(c.profiles[0].perQuery).toMatchObject({ wins: 0, losses: 0 });
    expect(c.profiles[0].perQuery.ties).toBe(out.profiles[0]!.exact.metrics.judgedQueries);
  });

  it('prints a readable table without --json and honours --no-history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-eval-'));
    const r = await runCli(
      ['eval', '--dataset', dataset, '--profiles', 'hash_small,hash_large', '--ann', '--no-history'],
      {
        cwd: dir,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^reembed eval: reembed-beir-\w+ \(test\), 6 documents, 5 queries \(4 with relevant documents\)/,
    );
    expect(r.stdout).toMatch(/profile +dims +R@1 +R@5 +R@10 +R@50 +MRR@10 +nDCG@10 +Contain@50/);
    expect(r.stdout).toMatch(/hash_small +256 +0\.375 +0\.750 +0\.750 +0\.750 +0\.625 +0\.658 +0\.750/);
    expect(r.stdout).toMatch(/ANN search through each profile.s index \(\w+: hnsw ef_search 50.*\), top 50:/);
    // Six rows: sorting them all is cheaper than an index scan, and the report says so.
    expect(r.stdout).toMatch(/note: for hash_small, hash_large the planner chose a sequential scan/);
    expect(r.stdout).toMatch(/hash_small +hash_large +0\.600 +[\d.]+ +0 +0 +4 +\+0\.000/);
    expect(r.stdout).toMatch(/warning: 1 judged documents are not in the corpus/);
    expect(existsSync(join(dir, '.reembed'))).toBe(false);
  });

  it('breaks the metrics down per metadata category with --by, and refuses a malformed field (exit 2)', async () => {
    const categorized = writeTinyDataset({ corpus: tinyCorpusWithCategories() });
    const args = ['eval', '--dataset', categorized, '--profiles', 'hash_small,hash_large', '--no-history'];
    const r = await runCli([...args, '--by', 'metadata.category'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/per metadata\.category \(exact search; 5 categories;/);
    expect(r.stdout).toMatch(/category +queries +R@5 +R@10 +MRR@10 +nDCG@10 +ΔnDCG@10/);
    expect(r.stdout).toMatch(/metal +1 +1\.000 +1\.000 +0\.500 +0\.631/);

    const json = await runCli([...args, '--by', 'category', '--json'], { cwd });
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout) as EvalOutput;
    expect(out.by).toEqual({ field: 'metadata.category', categories: 5 });
    expect(out.profiles[1]!.byCategory!.find((c) => c.category === 'fruit')!.metrics.recallAt1).toBe(1);

    const bad = await runCli([...args, '--by', 'metadata.a b', '--json'], { cwd });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
  });

  it('exits 2 for a missing dataset directory, an unknown profile or a bad split', async () => {
    const missing = await runCli(['eval', '--dataset', join(cwd, 'nope'), '--profiles', 'hash_small', '--json'], {
      cwd,
    });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'DATASET_NOT_FOUND' } });
    expect(missing.stderr).toMatch(/dataset directory .*nope does not exist/);

    const unknown = await runCli(['eval', '--dataset', dataset, '--profiles', 'hash_small,nope'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown profile "nope"/);

    const split = await runCli(['eval', '--dataset', dataset, '--profiles', 'hash_small', '--split', 'dev'], { cwd });
    expect(split.code).toBe(2);
    expect(split.stderr).toMatch(/qrels\/dev\.tsv: no such file/);
  });

  it('exits 1 naming the file and line of a malformed qrels row', async () => {
    const bad = writeTinyDataset({ qrels: 'q1\td1\t1\nq2\td3\n' });
    const r = await runCli(['eval', '--dataset', bad, '--profiles', 'hash_small'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(bad, 'qrels', 'test.tsv')}:2: expected 3 tab-separated fields`);
  });
});

describe('reembed eval with --db on a server and profiles from reembed.yaml', () => {
  let server: { url: string; drop: () => Promise<void> };
  let cwd: string;
  beforeAll(async () => {
    server = await createServerDatabase();
    cwd = mkdtempSync(join(tmpdir(), 'reembed-cli-eval-'));
    writeFileSync(
      join(cwd, 'reembed.yaml'),
      `source: { table: public.articles, id: id, text: "{title}\\n\\n{body}" }
profiles:
  words: { provider: hash, dims: 128, hash: { word_ngrams: [1, 1], char_ngrams: [3, 3], seed: 1 } }
environments:
  development: { profile: words }
`,
    );
  });
  afterAll(() => server.drop());

  it('evaluates there, then refuses the now non-empty database (exit 2)', async () => {
    const dataset = writeTinyDataset();
    const args = ['--db', server.url, 'eval', '--dataset', dataset, '--profiles', 'words', '--json'];
    const r = await runCli(args, { cwd });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as EvalOutput;
    expect(out.database.kind).toBe('postgres');
    // The manifest's template reads an attached table's columns: evaluated over {content}.
    expect(out.profiles[0]).toMatchObject({
      profile: 'words',
      template: '{content}',
      replacedTemplate: '{title}\n\n{body}',
    });
    expect(out.profiles[0]!.exact.metrics.recallAt1).toBe(TINY_EXPECTED.recallAt1);

    const again = await runCli(args, { cwd });
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'EVAL_NEEDS_EMPTY_DATABASE' } });
  });
});
