import { expect } from 'vitest';

/**
 * Reads TREC run files the way trec_eval does, so tests can check that what reembed writes
 * is what trec_eval would evaluate.
 */
export interface TrecLine {
  qid: string;
  q0: string;
  docid: string;
  rank: number;
  score: number;
  run: string;
}

/** Parses a run file strictly: six space-separated columns per line. */
export function parseTrecRun(text: string): TrecLine[] {
  return text
    .trimEnd()
    .split('\n')
    .map((line, i) => {
      const cols = line.split(' ');
      if (cols.length !== 6) throw new Error(`line ${i + 1}: ${cols.length} columns: ${line}`);
      const [qid, q0, docid, rank, score, run] = cols as [string, string, string, string, string, string];
      return { qid, q0, docid, rank: Number(rank), score: Number(score), run };
    });
}

/**
 * The ranking trec_eval derives from a run: per query, by score descending, ties by docno
 * descending (strcmp), ignoring the rank column (trec_eval's form_res_rels.c).
 */
export function trecEvalRankings(lines: TrecLine[]): Map<string, string[]> {
  const byQuery = new Map<string, TrecLine[]>();
  for (const l of lines) byQuery.set(l.qid, [...(byQuery.get(l.qid) ?? []), l]);
  return new Map(
    [...byQuery].map(([q, ls]) => [
      q,
      ls
        .sort((a, b) => b.score - a.score || Buffer.compare(Buffer.from(b.docid), Buffer.from(a.docid)))
        .map((l) => l.docid),
    ]),
  );
}

/** Checks the conventions trec_eval expects: Q0, ranks 1..n in order, scores non-increasing. */
export function checkTrecConventions(lines: TrecLine[], runName: string): void {
  const byQuery = new Map<string, TrecLine[]>();
  for (const l of lines) byQuery.set(l.qid, [...(byQuery.get(l.qid) ?? []), l]);
  for (const [qid, ls] of byQuery) {
    ls.forEach((l, i) => {
      expect(l, `query ${qid}`).toMatchObject({ q0: 'Q0', rank: i + 1, run: runName });
      expect(Number.isFinite(l.score)).toBe(true);
      if (i > 0) expect(l.score).toBeLessThanOrEqual(ls[i - 1]!.score);
    });
    expect(new Set(ls.map((l) => l.docid)).size, `duplicate documents in query ${qid}`).toBe(ls.length);
  }
}
