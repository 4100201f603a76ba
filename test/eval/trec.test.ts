import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTrecRun, trecOrder, writeTrecRun, type Rankings } from '../../src/eval/trec.js';
import { checkTrecConventions, parseTrecRun, trecEvalRankings } from './trec-reader.js';

describe('TREC run files', () => {
  const rankings: Rankings = new Map([
    [
      'q1',
      [
        { id: 'd3', score: 0.9 },
        { id: 'd1', score: 0.5 },
        { id: 'd2', score: 0.5 },
        { id: 'd9', score: -0.125 },
      ],
    ],
    ['q2', [{ id: 'd7', score: 0.30000000000000004 }]],
  ]);

  it('writes six space-separated columns, ranks from 1, scores descending', () => {
    const text = formatTrecRun(rankings, 'hash_small');
    expect(text).toBe(
      [
        'q1 Q0 d3 1 0.9 hash_small',
        // equal scores: the larger id first, as trec_eval breaks ties
        'q1 Q0 d2 2 0.5 hash_small',
        'q1 Q0 d1 3 0.5 hash_small',
        'q1 Q0 d9 4 -0.125 hash_small',
        'q2 Q0 d7 1 0.30000000000000004 hash_small',
        '',
      ].join('\n'),
    );
    const lines = parseTrecRun(text);
    checkTrecConventions(lines, 'hash_small');
    // trec_eval reads back exactly the order the file states
    expect(trecEvalRankings(lines)).toEqual(
      new Map([
        ['q1', ['d3', 'd2', 'd1', 'd9']],
        ['q2', ['d7']],
      ]),
    );
  });

  it('keeps every score exactly (the shortest round-trip text of the double)', () => {
    const score = 0.28076237440109253;
    const text = formatTrecRun(new Map([['q', [{ id: 'a', score }]]]), 'r');
    expect(parseTrecRun(text)[0]!.score).toBe(score);
  });

  it('orders ties by id descending in byte order', () => {
    const ordered = trecOrder([
      { id: 'a', score: 1 },
      { id: 'B', score: 1 },
      { id: 'é', score: 1 },
      { id: 'z', score: 2 },
    ]);
    expect(ordered.map((h) => h.id)).toEqual(['z', 'é', 'a', 'B']);
  });

  it('refuses ids and run names that would break the columns', () => {
    expect(() => formatTrecRun(new Map([['q 1', [{ id: 'a', score: 1 }]]]), 'r')).toThrow(/query id "q 1"/);
    expect(() => formatTrecRun(new Map([['q', [{ id: 'a\tb', score: 1 }]]]), 'r')).toThrow(/document id/);
    expect(() => formatTrecRun(rankings, 'my run')).toThrow(/run name/);
  });

  it('writes <dir>/<run>.trec, creating the directory', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'reembed-trec-')), 'runs', 'nested');
    const path = writeTrecRun(dir, 'hash_large', rankings);
    expect(path).toBe(join(dir, 'hash_large.trec'));
    expect(readFileSync(path, 'utf8')).toBe(formatTrecRun(rankings, 'hash_large'));
  });
});
