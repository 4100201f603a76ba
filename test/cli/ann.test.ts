import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { scaled } from '../helpers/slowdown.js';

/** 300 short documents with overlapping words, so the hash profile's neighbours are not all ties. */
function documents(): string {
  const topics = ['cats', 'dogs', 'fish', 'birds', 'trees'];
  const colours = ['red', 'green', 'blue'];
  return Array.from({ length: 300 }, (_, i) =>
    JSON.stringify({
      id: `d${i}`,
      text: `document ${i} about ${topics[i % 5]} and ${colours[i % 3]} things ${(i * 7919) % 1000}`,
    }),
  ).join('\n');
}

describe('reembed verify --ann and reembed tune', { timeout: scaled(180_000) }, () => {
  let dir: string;
  let manifest: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reembed-cli-ann-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, 'docs.jsonl'), documents());
    expect((await runCli(['load', 'docs.jsonl'], { cwd: dir })).code).toBe(0);
    const backfill = await runCli(['backfill', '--profile', 'hash_small', '--no-index'], { cwd: dir });
    expect(backfill.code, backfill.stderr).toBe(0);
    manifest = readFileSync(join(dir, 'reembed.yaml'), 'utf8');
  });

  it('verify --ann: exit 1 without an index, 0 above the threshold, 1 under it, 2 for ANN options without --ann', async () => {
    const missing = await runCli(['verify', '--ann', '--json'], { cwd: dir });
    expect(missing.code).toBe(1);
    const noIndex = JSON.parse(missing.stdout);
    expect(noIndex).toMatchObject({
      ok: false,
      checksOk: true,
      ann: { ok: false, error: { code: 'ANN_INDEX_MISSING' } },
    });
    const human = await runCli(['verify', '--ann'], { cwd: dir });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/verify: ok/);
    expect(human.stdout).toMatch(/ann: FAILED \(ANN_INDEX_MISSING\): profile hash_small has no HNSW index/);

    // A second backfill embeds nothing and builds the index.
    expect((await runCli(['backfill', '--profile', 'hash_small'], { cwd: dir })).code).toBe(0);
    const pass = await runCli(['verify', '--ann', '--ann-queries', '50', '--json'], { cwd: dir });
    expect(pass.code, pass.stderr).toBe(0);
    const report = JSON.parse(pass.stdout);
    expect(report).toMatchObject({
      ok: true,
      checksOk: true,
      profile: 'hash_small',
      ann: { ok: true, profile: 'hash_small', k: 10, queries: 50, efSearch: 40, threshold: 0.95, usedIndex: true },
    });
    expect(report.ann.overlap).toBeGreaterThanOrEqual(0.95);
    expect(report.ann.overlap).toBeLessThanOrEqual(1);

    const strict = await runCli(['verify', '--ann', '--ann-threshold', '1.01', '--ann-queries', '20'], { cwd: dir });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(
      /ann: overlap@10 [01]\.\d{4} .*20 stored vectors as queries \(seed 1\), ef_search 40, threshold 1\.01: FAILED/,
    );

    const orphan = await runCli(['verify', '--k', '5'], { cwd: dir });
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toMatch(/--k needs --ann/);
    expect((await runCli(['verify', '--ann', '--ann-threshold', 'x'], { cwd: dir })).code).toBe(2);
  });

  it('tune --dry-run --json reports every value and the choice, and writes nothing', async () => {
    const run = await runCli(
      ['tune', '--profile', 'hash_small', '--dry-run', '--json', '--queries', '50', '--values', '40,10,20'],
      {
        cwd: dir,
      },
    );
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ profile: 'hash_small', k: 10, queries: 50, dryRun: true, written: null });
    expect(report.rows.map((r: { value: number }) => r.value)).toEqual([10, 20, 40]);
    expect(report).toMatchObject({ kind: 'hnsw', parameter: 'ef_search' });
    const smallest = report.rows.find((r: { recall: number }) => r.recall >= 0.995)?.value ?? null;
    expect(report.choice).toBe(smallest);
    // Progress lines on stderr, one per value.
    expect(run.stderr).toMatch(/ef_search 10: recall@10 [01]\.\d{4}, p50 .* \(1\/3\)/);
    expect(readFileSync(join(dir, 'reembed.yaml'), 'utf8')).toBe(manifest);
  });

  it('tune exits 1 and writes nothing when no value qualifies; otherwise writes ef_search, keeping the comments', async () => {
    const none = await runCli(['tune', '--queries', '10', '--values', '10,40', '--p95-target-ms', '0.000001'], {
      cwd: dir,
    });
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/no ef_search qualifies: no value has p95 within 0\.000001 ms .* Nothing written\./);
    expect(readFileSync(join(dir, 'reembed.yaml'), 'utf8')).toBe(manifest);

    const write = await runCli(['tune', '--queries', '50', '--values', '400', '--json'], { cwd: dir });
    expect(write.code, write.stderr).toBe(0);
    const report = JSON.parse(write.stdout);
    // At 400, more than the 300 rows, the search visits every row: exact.
    expect(report).toMatchObject({ choice: 400, written: { previous: null, changed: true } });
    expect(report.rows[0].recall).toBe(1);
    const text = readFileSync(join(dir, 'reembed.yaml'), 'utf8');
    expect(text).toBe(manifest.replace('    metric: cosine\n', '    metric: cosine\n    ef_search: 400\n'));
    expect(text).toContain('# Built in, offline and deterministic');

    // verify --ann now searches at the profile's ef_search.
    const verify = await runCli(['verify', '--ann', '--ann-queries', '5', '--json'], { cwd: dir });
    expect(JSON.parse(verify.stdout).ann.efSearch).toBe(400);
    expect((await runCli(['tune', '--values', '5'], { cwd: dir })).code).toBe(2);
  });
});
