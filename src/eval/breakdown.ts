import type { Queryable } from '../db/database.js';
import { ConfigError } from '../errors.js';
import { metadataValues } from '../source/managed.js';
import { RETRIEVAL_METRICS, type Qrels, type RetrievalMetrics, type RetrievalSummary } from './metrics.js';

/**
 * `reembed eval --by metadata.category`: the metrics of each category of a corpus metadata field.
 *
 * Metrics are per query and categories are on documents, so a query takes the categories of the
 * documents judged relevant to it (grade > 0). A query whose relevant documents span two
 * categories counts in both (its figures are the same in each: it is one ranking); one whose
 * relevant documents lack the field, or are not in the corpus, is in `(none)`. The categories'
 * query counts can therefore add up to more than the run's queries; the report says so.
 */
export interface CategoryEvaluation {
  category: string;
  /** Judged queries in this category (those that enter the averages). */
  queries: number;
  metrics: RetrievalSummary;
}

export const NO_CATEGORY = '(none)';
/** Categories beyond this many are folded into `(other)`: a field with an id per document is no breakdown. */
export const MAX_CATEGORIES = 50;
export const OTHER_CATEGORY = '(other)';

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** `metadata.category` or `category` → the JSON path inside the metadata column. */
export function parseCategoryPath(by: string): string[] {
  const segments = by.trim().split('.');
  if (segments[0] === 'metadata') segments.shift();
  if (segments.length === 0 || segments.some((s) => !SEGMENT.test(s))) {
    throw new ConfigError(
      `--by ${JSON.stringify(by)}: expected a metadata field such as metadata.category or metadata.source.kind ` +
        '(letters, digits, _ and - between dots)',
    );
  }
  return segments;
}

/** The field's value for each judged document of the corpus (absent: the document lacks it). */
export async function documentCategories(conn: Queryable, path: string[], qrels: Qrels): Promise<Map<string, string>> {
  const ids = [...new Set([...qrels.values()].flatMap((judged) => [...judged.keys()]))];
  return metadataValues(conn, ids, path);
}

/** Each query's categories: those of its relevant documents, else `(none)`. */
export function queryCategories(qrels: Qrels, categoryOf: Map<string, string>): Map<string, string[]> {
  const counts = new Map<string, number>();
  for (const c of categoryOf.values()) counts.set(c, (counts.get(c) ?? 0) + 1);
  const kept = new Set(
    [...counts]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, MAX_CATEGORIES)
      .map(([c]) => c),
  );
  const out = new Map<string, string[]>();
  for (const [queryId, judged] of qrels) {
    const categories = new Set<string>();
    for (const [docId, grade] of judged) {
      if (grade <= 0) continue;
      const c = categoryOf.get(docId);
      if (c !== undefined) categories.add(kept.has(c) ? c : OTHER_CATEGORY);
    }
    out.set(queryId, categories.size ? [...categories].sort() : [NO_CATEGORY]);
  }
  return out;
}

/** Averages the per-query metrics within each category, the largest categories first. */
export function breakdown(
  perQuery: Map<string, RetrievalMetrics | null>,
  categoriesOf: Map<string, string[]>,
): CategoryEvaluation[] {
  const groups = new Map<string, { sums: Record<string, number>; judged: number; unjudged: number }>();
  for (const [queryId, metrics] of perQuery) {
    for (const category of categoriesOf.get(queryId) ?? [NO_CATEGORY]) {
      let g = groups.get(category);
      if (!g) groups.set(category, (g = { sums: {}, judged: 0, unjudged: 0 }));
      if (metrics === null) {
        g.unjudged++;
        continue;
      }
      g.judged++;
      for (const m of RETRIEVAL_METRICS) g.sums[m] = (g.sums[m] ?? 0) + metrics[m];
    }
  }
  return [...groups]
    .map(([category, g]) => {
      const means = Object.fromEntries(
        RETRIEVAL_METRICS.map((m) => [m, g.judged ? (g.sums[m] ?? 0) / g.judged : 0]),
      ) as unknown as RetrievalMetrics;
      return {
        category,
        queries: g.judged,
        metrics: { ...means, judgedQueries: g.judged, unjudgedQueries: g.unjudged },
      };
    })
    .filter((c) => c.queries > 0)
    .sort((a, b) => b.queries - a.queries || a.category.localeCompare(b.category));
}
