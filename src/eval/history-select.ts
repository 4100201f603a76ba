/**
 * Picks entries of the eval history by what a person types: a line number (1 is the oldest,
 * -1 the newest) or the start of an entry's time (`2026-12-04`, `2026-12-04T10:3`; the newest
 * such entry).
 */
import { ReembedError } from '../errors.js';
import type { HistoryEntry } from './history.js';

export class HistoryRunNotFoundError extends ReembedError {
  constructor(selector: string, count: number) {
    super(
      'EVAL_HISTORY_RUN_NOT_FOUND',
      `no eval run ${JSON.stringify(selector)} in a history of ${count} runs: give a line number (1 the oldest, -1 the newest) or the start of a run's time`,
      { exitCode: 2, details: { selector, count } },
    );
  }
}

export function selectRun(entries: HistoryEntry[], selector: string): { entry: HistoryEntry; line: number } {
  const n = Number(selector);
  if (/^-?\d+$/.test(selector.trim()) && n !== 0) {
    const index = n > 0 ? n - 1 : entries.length + n;
    const entry = entries[index];
    if (!entry) throw new HistoryRunNotFoundError(selector, entries.length);
    return { entry, line: index + 1 };
  }
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i]!.time.startsWith(selector)) return { entry: entries[i]!, line: i + 1 };
  }
  throw new HistoryRunNotFoundError(selector, entries.length);
}
