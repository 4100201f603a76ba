import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ReembedError } from '../errors.js';
import { VERSION } from '../version.js';
import type { ProfileComparison } from './compare.js';
import type { RetrievalSummary } from './metrics.js';
import type { EvalReport } from './run.js';

/**
 * Where `reembed eval` appends its history unless told otherwise: beside the embedded
 * database's default data directory, so one working directory keeps its evaluations together.
 * PGlite ignores a foreign file in its data directory, and .reembed/ is ignored by git; pass
 * --history to keep the history somewhere you commit.
 */
export const DEFAULT_HISTORY_FILE = '.reembed/eval-history.jsonl';

/** One line of the history: enough to plot a metric per profile fingerprint over time. */
export interface HistoryEntry {
  time: string;
  reembed: string;
  dataset: { name: string; dir: string; split: string; documents: number; queries: number };
  database: string;
  k: number;
  profiles: Array<{
    profile: string;
    fingerprint: string;
    provider: string;
    model: string | null;
    dims: number;
    exact: RetrievalSummary;
    ann: (RetrievalSummary & { efSearch: number | null }) | null;
    latencyMs: { embedP50: number; embedP95: number; searchP50: number; searchP95: number };
    queriesPerSecond: number;
    /** nDCG@10 per judged query (entries written since reembed 0.1 kept it; older ones lack it). */
    perQuery?: { ndcgAt10: Record<string, number> };
  }>;
  comparisons: ProfileComparison[];
}

export function historyEntry(report: EvalReport): HistoryEntry {
  return {
    time: report.startedAt,
    reembed: VERSION,
    dataset: {
      name: report.dataset.name,
      // Absolute, so entries written from different working directories still compare.
      dir: resolve(report.dataset.dir),
      split: report.dataset.split,
      documents: report.dataset.documents,
      queries: report.dataset.queries,
    },
    database: report.database.kind,
    k: report.k,
    profiles: report.profiles.map((p) => ({
      profile: p.profile,
      fingerprint: p.fingerprint,
      provider: p.provider,
      model: p.model,
      dims: p.dims,
      exact: p.exact.metrics,
      ann: p.ann ? { ...p.ann.metrics, efSearch: p.ann.efSearch } : null,
      latencyMs: {
        embedP50: p.embedLatency.p50Ms,
        embedP95: p.embedLatency.p95Ms,
        searchP50: p.exact.latency.p50Ms,
        searchP95: p.exact.latency.p95Ms,
      },
      queriesPerSecond: p.queriesPerSecond,
      perQuery: { ndcgAt10: p.perQueryNdcgAt10 },
    })),
    comparisons: report.comparisons,
  };
}

/** Appends one JSON line (creating the file and its directory); returns the absolute path. */
export function appendHistory(file: string, report: EvalReport): string {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(historyEntry(report))}\n`);
  return path;
}

export class HistoryError extends ReembedError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('EVAL_HISTORY_INVALID', message, { exitCode: 2, details });
  }
}

/** Every entry of a history file, oldest first; a line that is not an entry is an error naming it. */
export function readHistory(file: string): HistoryEntry[] {
  const path = resolve(file);
  if (!existsSync(path))
    throw new HistoryError(`no eval history at ${path}: \`reembed eval\` appends one line per run (--history FILE)`, {
      path,
    });
  const entries: HistoryEntry[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let entry: HistoryEntry;
    try {
      entry = JSON.parse(line) as HistoryEntry;
    } catch (error) {
      throw new HistoryError(`${path}:${i + 1}: not JSON (${(error as Error).message})`, { path, line: i + 1 });
    }
    if (typeof entry?.time !== 'string' || !Array.isArray(entry.profiles) || Number.isNaN(Date.parse(entry.time)))
      throw new HistoryError(`${path}:${i + 1}: not an eval history entry (no time or profiles)`, {
        path,
        line: i + 1,
      });
    entries.push(entry);
  }
  return entries;
}
