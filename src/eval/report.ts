import type { DatabaseKind } from '../db/database.js';
import type { BeirDataset } from './beir.js';
import type { CategoryEvaluation } from './breakdown.js';
import type { ProfileComparison } from './compare.js';
import type { LatencySummary } from './latency.js';
import type { RetrievalMetrics, RetrievalSummary } from './metrics.js';
import type { Rankings } from './trec.js';

/** What `reembed eval` reports: the JSON of `--json`, and what the history line is made from. */

export interface SearchEvaluation {
  metrics: RetrievalSummary;
  latency: LatencySummary;
}

export interface ProfileEvaluation {
  profile: string;
  /** Of the configuration evaluated (see profileForCorpus). */
  fingerprint: string;
  provider: string;
  model: string | null;
  dims: number;
  metric: string;
  template: string;
  /** The profile's own template when it read columns a BEIR corpus lacks and `{content}` was used. */
  replacedTemplate: string | null;
  backfill: { rows: number; seconds: number; rowsPerSecond: number };
  embedLatency: LatencySummary;
  exact: SearchEvaluation;
  ann:
    | (SearchEvaluation & {
        /** The index kind's search parameter and its value (hnsw.ef_search or ivfflat.probes). */
        parameter: 'ef_search' | 'probes';
        value: number;
        /** The value for an HNSW index, null for another kind (kept from before IVFFlat). */
        efSearch: number | null;
        /** `exact`: over 4,000 dims pgvector cannot index the profile, so there is no index. */
        index: 'hnsw' | 'ivfflat' | 'exact';
        indexSeconds: number;
        /** The planner used the index (EXPLAIN of the first query); false: these were exact scans. */
        indexScan: boolean;
      })
    | null;
  /**
   * The online quality signals over the exact rankings: the mean top-1 score and the mean
   * pairwise cosine of each query's top 5 (near 1: near-duplicate results).
   */
  quality: { top1Score: number | null; top5PairwiseCosine: number | null };
  /** Queries / (embed + exact search time), one query at a time. */
  queriesPerSecond: number;
  /** nDCG@10 of each judged query (exact search): what `reembed eval compare` counts wins and losses by. */
  perQueryNdcgAt10: Record<string, number>;
  /**
   * With `by`: every metric per category of the corpus field (exact search), largest first. A
   * query counts in each category of its relevant documents.
   */
  byCategory?: CategoryEvaluation[];
  /**
   * A profile with a rerank stage: every metric of the exact rankings before (`before`, the
   * off arm) and after (`after`, the on arm) its reranker over the top `topN`, the lift
   * (after − before), and the time of each query's rerank.
   */
  rerank?: RerankEvaluation;
}

export interface RerankEvaluation {
  provider: 'http' | 'features';
  topN: number;
  before: RetrievalSummary;
  after: RetrievalSummary;
  lift: RetrievalMetrics;
  latency: LatencySummary;
}

export interface EvalReport {
  startedAt: string;
  seconds: number;
  database: { target: string; kind: DatabaseKind };
  dataset: {
    name: string;
    dir: string;
    split: string;
    documents: number;
    /** Queries run: those of queries.jsonl with a judgment in the split. */
    queries: number;
    judgments: number;
    /** Judged documents the corpus lacks (they stay relevant and unretrievable, as in trec_eval). */
    missingDocuments: number;
    missingDocumentExamples: string[];
    stats: BeirDataset['stats'];
    warnings: string[];
  };
  k: number;
  ann: boolean;
  /** The per-category breakdown's field and how many categories it found; null without `by`. */
  by: { field: string; categories: number } | null;
  profiles: ProfileEvaluation[];
  /** Every pair of profiles, the earlier one as control. */
  comparisons: ProfileComparison[];
}

export interface EvalRun {
  report: EvalReport;
  /** Per profile: the rankings the figures were computed from (for TREC run files). */
  rankings: Map<string, { exact: Rankings; ann: Rankings | null }>;
}
