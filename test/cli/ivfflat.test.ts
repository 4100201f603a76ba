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

/**
 * An IVFFlat profile end to end through the CLI (and so the facade): backfill builds the index,
 * status and verify report its lists, verify --ann measures it at probes, tune sweeps probes
 * and writes index.probes, and dropping the `index:` block rebuilds an HNSW index.
 */
describe('an IVFFlat profile through the CLI', { timeout: scaled(180_000) }, () => {
  let dir: string;
  const manifestFile = () => join(dir, 'reembed.yaml');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reembed-cli-ivfflat-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    const text = readFileSync(manifestFile(), 'utf8');
    expect(text).toContain('    metric: cosine\n');
    writeFileSync(
      manifestFile(),
      text.replace('    metric: cosine\n', '    metric: cosine\n    index:\n      type: ivfflat\n      lists: 3\n'),
    );
    writeFileSync(join(dir, 'docs.jsonl'), documents());
    expect((await runCli(['load', 'docs.jsonl'], { cwd: dir })).code).toBe(0);
    const backfill = await runCli(['backfill', '--profile', 'hash_small'], { cwd: dir });
    expect(backfill.code, backfill.stderr).toBe(0);
  });

  it('backfill builds the ivfflat index; status and verify report the sizes of its lists', async () => {
    const status = await runCli(['status', '--json'], { cwd: dir });
    expect(status.code, status.stderr).toBe(0);
    const index = JSON.parse(status.stdout).profiles[0].index;
    expect(index).toMatchObject({ type: 'ivfflat', valid: true, current: true, options: { lists: 3 } });
    expect(index.lists).toMatchObject({ lists: 3, found: 3, storeRows: 300, rowsCovered: 300, method: 'complete' });
    const human = await runCli(['status'], { cwd: dir });
    expect(human.stdout).toMatch(
      /ivfflat \(lists 3\) .*lists 3\/3 found \(all rows\): min \d+, p50 \d+, max \d+, cv \d\.\d\d/,
    );

    const verify = await runCli(['verify', '--json'], { cwd: dir });
    expect(verify.code, verify.stderr).toBe(0);
    const lists = JSON.parse(verify.stdout).index.lists;
    expect(lists.min + lists.p50 + lists.max).toBeGreaterThan(0);
    expect(lists).toEqual(index.lists);
  });

  it('verify --ann measures at probes; --ef-search is refused for an ivfflat index', async () => {
    const all = await runCli(['verify', '--ann', '--ann-queries', '40', '--probes', '3', '--json'], { cwd: dir });
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout).ann).toMatchObject({
      ok: true,
      kind: 'ivfflat',
      parameter: 'probes',
      value: 3,
      overlap: 1,
      usedIndex: true,
    });
    const human = await runCli(['verify', '--ann', '--ann-queries', '10', '--probes', '3'], { cwd: dir });
    expect(human.stdout).toMatch(/ann: overlap@10 1\.0000 .* probes 3, threshold 0\.95: ok/);
    const wrong = await runCli(['verify', '--ann', '--ef-search', '40'], { cwd: dir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/takes probes, not ef_search/);
  });

  it('tune sweeps probes and writes index.probes; removing the index block rebuilds HNSW', async () => {
    const before = readFileSync(manifestFile(), 'utf8');
    const tune = await runCli(['tune', '--queries', '40', '--json'], { cwd: dir });
    expect(tune.code, tune.stderr).toBe(0);
    const report = JSON.parse(tune.stdout);
    expect(report).toMatchObject({ kind: 'ivfflat', parameter: 'probes', current: null });
    expect(report.rows.map((r: { value: number }) => r.value)).toEqual([1, 2, 4, 8, 12, 16, 32]);
    // Three lists: probing all three (or more) is exact.
    expect(
      report.rows.filter((r: { value: number }) => r.value >= 3).every((r: { recall: number }) => r.recall === 1),
    ).toBe(true);
    expect(report.choice).toBeLessThanOrEqual(4);
    expect(report.written).toMatchObject({ key: 'index.probes', previous: null, changed: true });
    expect(readFileSync(manifestFile(), 'utf8')).toBe(
      before.replace('      lists: 3\n', `      lists: 3\n      probes: ${report.choice}\n`),
    );
    const at = await runCli(['verify', '--ann', '--ann-queries', '5', '--json'], { cwd: dir });
    expect(JSON.parse(at.stdout).ann.value).toBe(report.choice);

    // Back to HNSW: the fingerprint is unchanged (no FINGERPRINT_MISMATCH), the index rebuilt.
    writeFileSync(manifestFile(), before.replace('    index:\n      type: ivfflat\n      lists: 3\n', ''));
    const stale = await runCli(['verify', '--ann', '--ann-queries', '5', '--json'], { cwd: dir });
    expect(JSON.parse(stale.stdout).ann.error.code).toBe('ANN_INDEX_STALE');
    const rebuild = await runCli(['backfill', '--profile', 'hash_small', '--json'], { cwd: dir });
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(JSON.parse(rebuild.stdout).index).toMatchObject({
      search: 'hnsw',
      created: true,
      replaced: ['emb_hash_small_ivfflat'],
    });
    const status = JSON.parse((await runCli(['status', '--json'], { cwd: dir })).stdout);
    expect(status.profiles[0].index).toMatchObject({ type: 'hnsw', current: true, lists: null });
  });
});
