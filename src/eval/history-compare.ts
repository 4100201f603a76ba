/**
 * `reembed eval compare`: two runs of the history side by side. For each profile in both, the
 * change of every retrieval metric (exact search, and ANN when both ran it), and, when both
 * lines kept per-query nDCG@10, the queries that got better, worse or stayed.
 */
import type { HistoryEntry } from './history.js';
import { RETRIEVAL_METRICS, type RetrievalMetrics } from './metrics.js';

export interface MetricDelta {
  metric: keyof RetrievalMetrics;
  before: number;
  after: number;
  delta: number;
}

export interface ProfileRunComparison {
  profile: string;
  /** The profile's configuration changed between the runs (another fingerprint). */
  fingerprintChanged: boolean;
  exact: MetricDelta[];
  ann: MetricDelta[] | null;
  /** nDCG@10 per query, over queries judged in both runs; null when a line lacks per-query figures. */
  perQuery: { wins: number; losses: number; ties: number; worst: Array<{ query: string; delta: number }> } | null;
}

export interface RunComparison {
  before: { line: number; time: string };
  after: { line: number; time: string };
  /** Warnings a reader needs: another dataset, split or k. */
  warnings: string[];
  profiles: ProfileRunComparison[];
  /** Profiles in only one of the runs. */
  onlyBefore: string[];
  onlyAfter: string[];
}

/** Differences under this are ties (float noise of identical rankings). */
const TIE = 1e-9;

function deltas(before: RetrievalMetrics, after: RetrievalMetrics): MetricDelta[] {
  return RETRIEVAL_METRICS.map((metric) => ({
    metric,
    before: before[metric],
    after: after[metric],
    delta: after[metric] - before[metric],
  }));
}

export function compareRuns(
  before: { entry: HistoryEntry; line: number },
  after: { entry: HistoryEntry; line: number },
): RunComparison {
  const a = before.entry;
  const b = after.entry;
  const warnings: string[] = [];
  if (a.dataset.dir !== b.dataset.dir || a.dataset.split !== b.dataset.split)
    warnings.push(
      `the runs are on different data: ${a.dataset.name} (${a.dataset.split}) and ${b.dataset.name} (${b.dataset.split})`,
    );
  if (a.k !== b.k) warnings.push(`the runs searched different depths: k ${a.k} and ${b.k}`);
  const profiles: ProfileRunComparison[] = [];
  for (const pb of b.profiles) {
    const pa = a.profiles.find((p) => p.profile === pb.profile);
    if (!pa) continue;
    let perQuery: ProfileRunComparison['perQuery'] = null;
    if (pa.perQuery && pb.perQuery) {
      const changes: Array<{ query: string; delta: number }> = [];
      for (const [query, valueB] of Object.entries(pb.perQuery.ndcgAt10)) {
        const valueA = pa.perQuery.ndcgAt10[query];
        if (valueA !== undefined) changes.push({ query, delta: valueB - valueA });
      }
      perQuery = {
        wins: changes.filter((c) => c.delta > TIE).length,
        losses: changes.filter((c) => c.delta < -TIE).length,
        ties: changes.filter((c) => Math.abs(c.delta) <= TIE).length,
        worst: changes
          .filter((c) => c.delta < -TIE)
          .sort((x, y) => x.delta - y.delta)
          .slice(0, 5),
      };
    }
    profiles.push({
      profile: pb.profile,
      fingerprintChanged: pa.fingerprint !== pb.fingerprint,
      exact: deltas(pa.exact, pb.exact),
      ann: pa.ann && pb.ann ? deltas(pa.ann, pb.ann) : null,
      perQuery,
    });
  }
  return {
    before: { line: before.line, time: a.time },
    after: { line: after.line, time: b.time },
    warnings,
    profiles,
    onlyBefore: a.profiles.map((p) => p.profile).filter((n) => !b.profiles.some((p) => p.profile === n)),
    onlyAfter: b.profiles.map((p) => p.profile).filter((n) => !a.profiles.some((p) => p.profile === n)),
  };
}
