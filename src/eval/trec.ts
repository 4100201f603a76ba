import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReembedError } from '../errors.js';
import type { SearchHit } from '../store/search.js';

/** Query id → hits, best first: one profile's answers to every query of a dataset. */
export type Rankings = Map<string, SearchHit[]>;

/**
 * Orders hits the way trec_eval (and pytrec_eval, which embeds it) reads a run: by score
 * descending, and equal scores by document id descending in byte order (`comp_sim_docno` in
 * trec_eval's form_res_rels.c; the rank column is ignored). reembed's exact search breaks
 * ties by id ascending, so without this a tie (duplicate documents, for one) would make
 * trec_eval's figures differ from the ones reembed reports for the same run file.
 */
export function trecOrder(hits: readonly SearchHit[]): SearchHit[] {
  return [...hits].sort((a, b) => b.score - a.score || Buffer.compare(Buffer.from(b.id), Buffer.from(a.id)));
}

/** TREC run files are whitespace-separated, so an id with whitespace cannot be written into one. */
const WHITESPACE = /\s/;

export class TrecFormatError extends ReembedError {
  constructor(message: string, details: Record<string, unknown>) {
    super('TREC_FORMAT', message, { exitCode: 1, details });
  }
}

/**
 * A TREC run: `qid Q0 docid rank score runname` per line, six space-separated columns, ranks
 * from 1 and scores descending within each query. Scores are written as JavaScript prints a
 * double, the shortest text that parses back to the same value, so the order trec_eval
 * derives from the scores is exactly the order of the ranking.
 */
export function formatTrecRun(rankings: Rankings, runName: string): string {
  if (!runName || WHITESPACE.test(runName)) {
    throw new TrecFormatError(`run name ${JSON.stringify(runName)} is empty or contains whitespace`, { runName });
  }
  const lines: string[] = [];
  for (const [queryId, hits] of rankings) {
    if (WHITESPACE.test(queryId) || queryId === '') {
      throw new TrecFormatError(`query id ${JSON.stringify(queryId)} cannot be written in a TREC run file`, {
        queryId,
      });
    }
    trecOrder(hits).forEach((hit, i) => {
      if (WHITESPACE.test(hit.id)) {
        throw new TrecFormatError(`document id ${JSON.stringify(hit.id)} cannot be written in a TREC run file`, {
          docId: hit.id,
        });
      }
      lines.push(`${queryId} Q0 ${hit.id} ${i + 1} ${hit.score} ${runName}`);
    });
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Writes `<dir>/<runName>.trec` (creating dir) and returns its path. */
export function writeTrecRun(dir: string, runName: string, rankings: Rankings): string {
  const text = formatTrecRun(rankings, runName);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${runName}.trec`);
  writeFileSync(path, text);
  return path;
}
