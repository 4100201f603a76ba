import type { EvalQuery } from '../../eval/beir.js';
import type { Reembed, SearchResponse } from '../../reembed.js';

/** The searches of one pass over the query set by one subject, as the serving path answered them. */
export interface SearchPass {
  rankings: Map<string, string[]>;
  /** Per search: the serving profile's embed + search (+ queueing) time, `latencyMs.total`. */
  latenciesMs: number[];
  servedBy: Map<string, number>;
  fallbacks: number;
}

/** How many fonts a search returns: the top 50, so Recall@50 and Contain@50 are measured too. */
export const SEARCH_K = 50;

/** Runs every query once for `subject` (null: no subject, which the control serves). */
export async function searchPass(
  reembed: Reembed,
  queries: readonly EvalQuery[],
  subject: string | null,
): Promise<SearchPass> {
  const pass: SearchPass = { rankings: new Map(), latenciesMs: [], servedBy: new Map(), fallbacks: 0 };
  for (const query of queries) {
    const response: SearchResponse = await reembed.search(query.text, { k: SEARCH_K, subject });
    pass.rankings.set(
      query.id,
      response.hits.map((h) => h.id),
    );
    pass.latenciesMs.push(response.latencyMs.total);
    pass.servedBy.set(response.profile, (pass.servedBy.get(response.profile) ?? 0) + 1);
    if (response.fallback) pass.fallbacks++;
  }
  return pass;
}

/**
 * The first subjects `subject-0`, `subject-1`, … that the migration's canary assigns to the
 * candidate (`wantCandidate`) or to the control, `count` of them: a search with one of them
 * is served by that profile (the bucket decides, as for any user).
 */
export async function subjectsServedBy(
  reembed: Reembed,
  wantCandidate: boolean,
  count: number,
  prefix = 'subject',
): Promise<string[]> {
  const found: string[] = [];
  for (let i = 0; found.length < count && i < 10_000; i++) {
    const subject = `${prefix}-${i}`;
    const report = await reembed.migration.bucket(subject);
    if (report.candidateServes === wantCandidate) found.push(subject);
  }
  return found;
}
