import { prepareBackfill, runBackfill } from '../backfill/backfill.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { createEmbedder, type CreateEmbedderOptions } from '../embedders/create.js';
import { ReembedError } from '../errors.js';
import { loadDocuments } from '../source/load.js';
import { resolveSource, type Source } from '../source/source.js';
import { buildIndex, indexKind, searchValue } from '../store/index.js';
import { searchExact, searchIndexed } from '../store/search.js';
import { storedVectors } from '../store/stored-vectors.js';
import { DatasetError, missingJudgedDocuments, type BeirDataset } from './beir.js';
import { compareProfiles, type ProfileComparison } from './compare.js';
import { summarizeLatency } from './latency.js';
import { evaluateRankings, meanPairwiseCosine, type RetrievalMetrics } from './metrics.js';
import { assertEmptyDatabase, checkProfileList, profileForCorpus } from './prepare.js';
import { annUsesIndex } from './ann-plan.js';
import { breakdown, documentCategories, parseCategoryPath, queryCategories } from './breakdown.js';
import { candidatePool, rescoreExact } from './rescore.js';
import type { EvalReport, EvalRun, ProfileEvaluation } from './report.js';
import { trecOrder, type Rankings } from './trec.js';

export interface EvalReporter {
  step(message: string): void;
  progress(label: string, done: number, total: number, extra?: string): void;
  progressDone(label: string): void;
}

export interface EvalOptions {
  /** Profiles in order; each is the control of its comparisons with the profiles after it. */
  profiles: Profile[];
  /**
   * An opened database with the reembed schema and no managed documents (`reembed eval`
   * opens a throwaway in-memory one unless given --db). The caller closes it.
   */
  db: Database;
  /** Results per query (default 50: enough for Recall@50 and Contain@50). */
  k?: number;
  /** Also search through each profile's index (HNSW or IVFFlat, built after its backfill). */
  ann?: boolean;
  /** hnsw.ef_search of the ANN searches of HNSW profiles (default: the profile's ef_search, else 40; at least k). */
  efSearch?: number;
  /** ivfflat.probes of the ANN searches of IVFFlat profiles (default: the profile's index.probes, else 10). */
  probes?: number;
  reporter?: EvalReporter;
  embedderOptions?: CreateEmbedderOptions;
  /**
   * A corpus metadata field (`metadata.category`): also report every metric per value of it,
   * a query taking the values of its relevant documents (eval/breakdown.ts).
   */
  by?: string;
}

export type { EvalReport, EvalRun, ProfileEvaluation, SearchEvaluation } from './report.js';

export const DEFAULT_EVAL_K = 50;
const silent: EvalReporter = { step() {}, progress() {}, progressDone() {} };

/**
 * Offline evaluation of profiles on a BEIR dataset: load the corpus into an empty database,
 * backfill every profile through the ordinary backfill (so evaluation measures exactly the
 * vectors a migration would write), then embed every query with the query prefix, search the
 * top k, and score the rankings against the judgments.
 */
export async function runEval(dataset: BeirDataset, options: EvalOptions): Promise<EvalRun> {
  checkProfileList(options.profiles);
  const k = options.k ?? DEFAULT_EVAL_K;
  const byPath = options.by === undefined ? null : parseCategoryPath(options.by);
  const reporter = options.reporter ?? silent;
  const adapted = options.profiles.map(profileForCorpus);
  const profiles = adapted.map((a) => a.profile);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const db = options.db;
  await assertEmptyDatabase(db, db.target, profiles);
  const source = await resolveSource(db, { managed: true, text: '{content}' });
  const dataInfo = await loadCorpus(db, dataset, reporter);
  const categoriesOf = byPath
    ? queryCategories(dataset.qrels, await documentCategories(db, byPath, dataset.qrels))
    : null;

  const rankings = new Map<string, { exact: Rankings; ann: Rankings | null }>();
  const evaluations: ProfileEvaluation[] = [];
  const perQuery = new Map<string, Map<string, RetrievalMetrics | null>>();
  for (const [i, profile] of profiles.entries()) {
    const result = await evaluateProfile(
      db,
      source,
      profile,
      adapted[i]!.replacedTemplate,
      profiles,
      dataset,
      k,
      options,
    );
    rankings.set(profile.name, result.rankings);
    perQuery.set(profile.name, result.perQuery);
    evaluations.push(
      categoriesOf ? { ...result.evaluation, byCategory: breakdown(result.perQuery, categoriesOf) } : result.evaluation,
    );
  }

  const comparisons: ProfileComparison[] = [];
  for (let a = 0; a < profiles.length; a++) {
    for (let b = a + 1; b < profiles.length; b++) {
      const [pa, pb] = [profiles[a]!.name, profiles[b]!.name];
      comparisons.push(
        compareProfiles(
          { name: pa, rankings: rankings.get(pa)!.exact, perQuery: perQuery.get(pa)! },
          { name: pb, rankings: rankings.get(pb)!.exact, perQuery: perQuery.get(pb)! },
        ),
      );
    }
  }

  const report: EvalReport = {
    startedAt,
    seconds: (performance.now() - started) / 1000,
    database: { target: db.target, kind: db.kind },
    dataset: {
      name: dataset.name,
      dir: dataset.dir,
      split: dataset.split,
      documents: dataInfo.documents,
      queries: dataset.queries.length,
      judgments: dataset.stats.qrelsRows,
      missingDocuments: dataInfo.missing.length,
      missingDocumentExamples: dataInfo.missing.slice(0, 5),
      stats: dataset.stats,
      warnings: [...dataset.warnings, ...dataInfo.warnings],
    },
    k,
    ann: Boolean(options.ann),
    by: byPath
      ? { field: `metadata.${byPath.join('.')}`, categories: new Set([...categoriesOf!.values()].flat()).size }
      : null,
    profiles: evaluations,
    comparisons,
  };
  return { report, rankings };
}

function sum(values: readonly number[]): number {
  return values.reduce((s, x) => s + x, 0);
}

function ids(rankings: Rankings): Map<string, string[]> {
  return new Map([...rankings].map(([q, hits]) => [q, hits.map((h) => h.id)]));
}

/** Backfills one profile, optionally indexes it, runs every query and scores the rankings. */
async function evaluateProfile(
  db: Database,
  source: Source,
  profile: Profile,
  replacedTemplate: string | null,
  all: Profile[],
  dataset: BeirDataset,
  k: number,
  options: EvalOptions,
): Promise<{
  evaluation: ProfileEvaluation;
  rankings: { exact: Rankings; ann: Rankings | null };
  perQuery: Map<string, RetrievalMetrics | null>;
}> {
  const reporter = options.reporter ?? silent;
  const backfill = await backfillProfile(db, source, profile, all, reporter, options.embedderOptions);
  const index = options.ann ? await buildIndex(db, profile) : null;
  if (index) {
    reporter.step(
      index.search === 'exact'
        ? `${profile.name}: no index over 4,000 dims; its ANN search is exact`
        : `${profile.name}: ${index.search} index ${index.created ? `built in ${index.seconds.toFixed(1)} s` : 'already built'}`,
    );
  }
  const run = await searchQueries(db, source, profile, dataset, k, options, reporter);
  const exact = evaluateRankings(ids(run.exact), dataset.qrels);
  const ann = run.ann ? evaluateRankings(ids(run.ann), dataset.qrels) : null;
  reporter.step(
    `${profile.name}: nDCG@10 ${exact.summary.ndcgAt10.toFixed(3)}, Recall@10 ${exact.summary.recallAt10.toFixed(3)} over ${exact.summary.judgedQueries} judged queries`,
  );
  const quality = await qualitySignals(db, profile, run.exact);
  const evaluation: ProfileEvaluation = {
    profile: profile.name,
    fingerprint: profile.fingerprint,
    provider: profile.provider,
    model: profile.model ?? null,
    dims: profile.dims,
    metric: profile.metric,
    template: profile.template!,
    replacedTemplate,
    backfill,
    embedLatency: summarizeLatency(run.embedMs),
    exact: { metrics: exact.summary, latency: summarizeLatency(run.exactMs) },
    ann:
      ann && index
        ? {
            metrics: ann.summary,
            latency: summarizeLatency(run.annMs),
            parameter: indexKind(profile).parameter.name,
            value: run.value,
            efSearch: indexKind(profile).type === 'hnsw' ? run.value : null,
            index: index.search,
            indexSeconds: index.seconds,
            indexScan: run.indexScan,
          }
        : null,
    quality,
    queriesPerSecond: run.exactMs.length / (sum([...run.embedMs, ...run.exactMs]) / 1000 || 1e-9),
    perQueryNdcgAt10: Object.fromEntries(
      [...exact.perQuery].flatMap(([q, m]) => (m === null ? [] : [[q, m.ndcgAt10] as const])),
    ),
  };
  return { evaluation, rankings: { exact: run.exact, ann: run.ann }, perQuery: exact.perQuery };
}

/** The online quality signals over the exact rankings: mean top-1 score, mean pairwise cosine of each top 5. */
async function qualitySignals(
  db: Database,
  profile: Profile,
  rankings: Rankings,
): Promise<{ top1Score: number | null; top5PairwiseCosine: number | null }> {
  const tops = [...rankings.values()].map((hits) => hits.slice(0, 5));
  const vectors = await storedVectors(db, profile, [...new Set(tops.flatMap((hits) => hits.map((h) => h.id)))]);
  const top1 = tops.flatMap((hits) => (hits.length ? [hits[0]!.score] : []));
  const cosines = tops.flatMap((hits) => {
    const c = meanPairwiseCosine(hits.flatMap((h) => (vectors.has(h.id) ? [vectors.get(h.id)!] : [])));
    return c === null ? [] : [c];
  });
  const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : null);
  return { top1Score: mean(top1), top5PairwiseCosine: mean(cosines) };
}

async function loadCorpus(
  db: Database,
  dataset: BeirDataset,
  reporter: EvalReporter,
): Promise<{ documents: number; missing: string[]; warnings: string[] }> {
  const label = `load ${dataset.name}`;
  const load = await loadDocuments(db, dataset.corpusFile, {
    format: 'beir',
    onProgress: (p) => reporter.progress(label, p.bytesRead, p.totalBytes ?? p.bytesRead, `${p.rows} documents`),
  });
  reporter.progressDone(label);
  if (load.rows === 0) {
    throw new DatasetError('DATASET_INVALID', `${dataset.corpusFile} holds no documents`, {
      file: dataset.corpusFile,
    });
  }
  reporter.step(`loaded ${load.rows} documents from ${dataset.corpusFile} in ${load.seconds.toFixed(1)} s`);
  const missing = await missingJudgedDocuments(db, dataset.qrels);
  const warnings = missing.length
    ? [
        `${missing.length} judged documents are not in the corpus (e.g. ${missing.slice(0, 3).join(', ')}): ` +
          'they count as relevant and can never be retrieved, as trec_eval counts them',
      ]
    : [];
  for (const w of warnings) reporter.step(`warning: ${w}`);
  return { documents: load.rows, missing, warnings };
}

async function backfillProfile(
  db: Database,
  source: Source,
  profile: Profile,
  all: Profile[],
  reporter: EvalReporter,
  embedderOptions: CreateEmbedderOptions | undefined,
): Promise<ProfileEvaluation['backfill']> {
  const label = `backfill ${profile.name}`;
  const plan = await prepareBackfill(db, source, profile, new Map(all.map((p) => [p.name, p])));
  const run = await runBackfill(db, {
    source,
    profiles: [profile],
    embedderOptions,
    onProgress: (s) => reporter.progress(label, s.rowsEmbedded, plan.sourceRows),
  });
  reporter.progressDone(label);
  const rows = run.workers.reduce((a, w) => a + w.rowsEmbedded, 0);
  // Figures over a partly embedded corpus would look like a worse model; refuse to report them.
  if (run.coverage.ratio < 1) {
    throw new ReembedError(
      'EVAL_INCOMPLETE_BACKFILL',
      `profile ${profile.name}: only ${run.coverage.current} of ${run.coverage.sourceRows} documents could be embedded, so its figures would be wrong; ` +
        'run with --db to keep the database and see `reembed failures list`',
      { exitCode: 1, details: { profile: profile.name, coverage: run.coverage } },
    );
  }
  reporter.step(`${label}: ${rows} documents in ${run.seconds.toFixed(1)} s`);
  return { rows, seconds: run.seconds, rowsPerSecond: rows / Math.max(run.seconds, 1e-9) };
}

interface QueryRun {
  exact: Rankings;
  ann: Rankings | null;
  embedMs: number[];
  exactMs: number[];
  annMs: number[];
  value: number;
  indexScan: boolean;
}

/**
 * One query at a time, as a serving path sees them, so the latencies are per-query latencies
 * (the search latency is the database's exact search; the rescoring is not timed). Exact hits
 * are rescored in float64 (see rescoreExact) so the rankings do not depend on the database,
 * and all hits are in trec_eval's order (see trecOrder), so the figures reported here and the
 * ones trec_eval computes from the written run files are the same.
 */
async function searchQueries(
  db: Database,
  source: Source,
  profile: Profile,
  dataset: BeirDataset,
  k: number,
  options: EvalOptions,
  reporter: EvalReporter,
): Promise<QueryRun> {
  const embedder = createEmbedder(profile, options.embedderOptions);
  const value = searchValue(profile, k, indexKind(profile).type === 'hnsw' ? options.efSearch : options.probes);
  const run: QueryRun = {
    exact: new Map(),
    ann: options.ann ? new Map() : null,
    embedMs: [],
    exactMs: [],
    annMs: [],
    value,
    indexScan: false,
  };
  const label = `search ${profile.name}`;
  for (const [i, query] of dataset.queries.entries()) {
    const t0 = performance.now();
    const { vectors } = await embedder.embed([query.text], 'query');
    const t1 = performance.now();
    const candidates = await searchExact(db, profile, vectors[0]!, candidatePool(k));
    const t2 = performance.now();
    run.embedMs.push(t1 - t0);
    run.exactMs.push(t2 - t1);
    run.exact.set(query.id, await rescoreExact(db, profile, vectors[0]!, candidates, k));
    if (run.ann) {
      if (i === 0) run.indexScan = await annUsesIndex(db, profile, vectors[0]!, k, value);
      const t3 = performance.now();
      const annHits = await searchIndexed(db, source, profile, vectors[0]!, k, { searchValue: value });
      run.annMs.push(performance.now() - t3);
      run.ann.set(query.id, trecOrder(annHits));
    }
    reporter.progress(label, i + 1, dataset.queries.length);
  }
  reporter.progressDone(label);
  return run;
}
