/**
 * `reembed eval compare` and `reembed eval trend` (issue 15 item 3) over a history file whose
 * runs are spread over days: deltas, per-query wins and losses, the 7-day rolling median, the
 * SVG plot, and the errors of a bad history or selector.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns } from '../../src/eval/history-compare.js';
import { HistoryRunNotFoundError, selectRun } from '../../src/eval/history-select.js';
import { HistoryError, readHistory, type HistoryEntry } from '../../src/eval/history.js';
import type { RetrievalSummary } from '../../src/eval/metrics.js';
import { median, metricTrend } from '../../src/eval/trend.js';
import { runCli } from '../helpers/cli.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-11-01T12:00:00Z');

function summary(recallAt5: number): RetrievalSummary {
  return {
    recallAt1: recallAt5 / 2,
    recallAt5,
    recallAt10: recallAt5 + 0.05,
    recallAt50: 0.9,
    mrrAt10: 0.5,
    ndcgAt10: recallAt5 - 0.1,
    containAt50: 0.95,
    judgedQueries: 3,
    unjudgedQueries: 0,
  };
}

function entry(day: number, recallAt5: number, perQuery?: Record<string, number>, fingerprint = 'fp1'): HistoryEntry {
  return {
    time: new Date(T0 + day * DAY).toISOString(),
    reembed: '0.1.0',
    dataset: { name: 'tiny', dir: '/data/tiny', split: 'test', documents: 10, queries: 3 },
    database: 'pglite',
    k: 50,
    profiles: [
      {
        profile: 'base',
        fingerprint,
        provider: 'hash',
        model: null,
        dims: 32,
        exact: summary(recallAt5),
        ann: null,
        latencyMs: { embedP50: 1, embedP95: 2, searchP50: 1, searchP95: 2 },
        queriesPerSecond: 100,
        ...(perQuery ? { perQuery: { ndcgAt10: perQuery } } : {}),
      },
    ],
    comparisons: [],
  };
}

// Daily runs for 20 days at 0.60, a dip to 0.50 on day 20, then 0.61 on day 21.
const ENTRIES = [
  ...Array.from({ length: 20 }, (_, d) => entry(d, 0.6 + (d % 2) * 0.01)),
  entry(20, 0.5, { q1: 0.9, q2: 0.4, q3: 0.7 }),
  entry(21, 0.61, { q1: 0.95, q2: 0.1, q3: 0.7 }, 'fp2'),
];

describe('eval history tools', () => {
  it('computes the median of the runs of the 7 days up to each run', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const trend = metricTrend(ENTRIES, {
      profile: 'base',
      metric: 'recallAt5',
      metricName: 'recall@5',
      sinceMs: 3 * DAY,
      now: T0 + 21 * DAY + 1000,
    });
    // Days 19, 20 and 21 are within 3 days; each median reaches back 7 days (days 13..20 for day 20).
    expect(trend.points.map((p) => p.value)).toEqual([0.61, 0.5, 0.61]);
    const day20 = trend.points[1]!;
    expect(day20.median7d).toBeCloseTo(0.6, 12); // 0.61 ×3 (days 15, 17, 19), 0.60 ×3, 0.50: median 0.60
    expect(day20.deltaFromMedian).toBeCloseTo(-0.1, 12);
    expect(trend.points[2]!.fingerprint).toBe('fp2');
  });

  it('selects runs by line number (negative from the end) or by the start of their time', () => {
    expect(selectRun(ENTRIES, '-1').line).toBe(22);
    expect(selectRun(ENTRIES, '1').entry.time).toBe(ENTRIES[0]!.time);
    expect(selectRun(ENTRIES, '2026-11-21').line).toBe(21);
    expect(() => selectRun(ENTRIES, '0')).toThrow(HistoryRunNotFoundError);
    expect(() => selectRun(ENTRIES, '99')).toThrow(/no eval run "99" in a history of 22 runs/);
    expect(() => selectRun(ENTRIES, '1999-')).toThrow(HistoryRunNotFoundError);
  });

  it('compares two runs: every metric, per-query wins and losses, a changed configuration', () => {
    const c = compareRuns(selectRun(ENTRIES, '-2'), selectRun(ENTRIES, '-1'));
    expect(c.warnings).toEqual([]);
    const base = c.profiles[0]!;
    expect(base.fingerprintChanged).toBe(true);
    expect(base.exact.find((d) => d.metric === 'recallAt5')!.delta).toBeCloseTo(0.11, 12);
    expect(base.perQuery).toEqual({
      wins: 1,
      losses: 1,
      ties: 1,
      worst: [{ query: 'q2', delta: expect.closeTo(-0.3, 12) }],
    });
    // Older lines without per-query figures: none counted, the metrics still compared.
    const old = compareRuns(selectRun(ENTRIES, '1'), selectRun(ENTRIES, '-1'));
    expect(old.profiles[0]!.perQuery).toBeNull();
  });

  it('refuses a history line that is not JSON or not an entry, naming the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-history-'));
    const file = join(dir, 'h.jsonl');
    writeFileSync(file, `${JSON.stringify(ENTRIES[0])}\n\n{"time": 1}\n`);
    expect(() => readHistory(file)).toThrow(/h\.jsonl:3: not an eval history entry/);
    writeFileSync(file, `${JSON.stringify(ENTRIES[0])}\nnot json\n`);
    expect(() => readHistory(file)).toThrow(HistoryError);
    expect(() => readHistory(join(dir, 'none.jsonl'))).toThrow(/no eval history at/);
  });

  it('prints both through the CLI, writes the SVG plot, and exits 2 on a bad metric or run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-history-cli-'));
    const file = join(dir, 'history.jsonl');
    writeFileSync(file, ENTRIES.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const cli = (...args: string[]) => runCli(args, { cwd: dir });

    const compare = await cli('eval', 'compare', '--history', file);
    expect(compare.code, compare.stderr).toBe(0);
    expect(compare.stdout).toMatch(/run 21 \(2026-11-21T12:00:00\.000Z\) → run 22 \(2026-11-22T12:00:00\.000Z\)/);
    expect(compare.stdout).toMatch(/base \(its configuration changed between the runs\):/);
    expect(compare.stdout).toMatch(/recallAt5\s+0\.5000\s+0\.6100\s+\+0\.1100/);
    expect(compare.stdout).toMatch(/1 better, 1 worse, 1 unchanged; worst: "q2" -0\.3000/);
    const json = JSON.parse((await cli('eval', 'compare', '--history', file, '--before', '1', '--json')).stdout);
    expect(json.before.line).toBe(1);

    const plot = join(dir, 'trend.svg');
    // --days counts back from now: the synthetic runs are in November 2026, so ask for a long window.
    const trend = await cli('eval', 'trend', '--history', file, '-p', 'base', '--days', '3650', '--plot', plot);
    expect(trend.code, trend.stderr).toBe(0);
    expect(trend.stdout).toMatch(/recall@5 of base \(exact search\), 22 runs:/);
    expect(trend.stdout).toMatch(/2026-11-21T12:00:00\.000Z\s+0\.5000\s+0\.6000\s+-0\.1000\s+fp1/);
    const svg = readFileSync(plot, 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect((svg.match(/<circle /g) ?? []).length).toBe(22);
    expect(svg).toContain('recall@5 of base (exact), 22 runs');

    const badMetric = await cli('eval', 'trend', '--history', file, '-p', 'base', '--metric', 'recall@7');
    expect(badMetric.code).toBe(2);
    expect(badMetric.stderr).toMatch(/unknown metric "recall@7": one of recall@1, recall@5/);
    const badRun = await cli('eval', 'compare', '--history', file, '--before', 'yesterday');
    expect(badRun.code).toBe(2);
    expect(badRun.stderr).toMatch(/no eval run "yesterday"/);
    // The evaluation itself still needs its dataset.
    const noDataset = await cli('eval', '--profiles', 'a,b');
    expect(noDataset.code).toBe(2);
    expect(noDataset.stderr).toMatch(/required option '--dataset <dir>' not specified/);
  });
});
