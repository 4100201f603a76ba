import { setProfileSetting, type ProfileSettingEdit } from '../config/edit-profile.js';
import { checkProfileEnvironment, getProfile } from '../config/manifest.js';
import { ConfigError, ReembedError } from '../errors.js';
import { checkAnn, type AnnCheckOptions, type AnnCheckReport } from '../eval/ann-check.js';
import { readBeirDataset, type BeirDataset } from '../eval/beir.js';
import { appendHistory, DEFAULT_HISTORY_FILE } from '../eval/history.js';
import { checkProfileList } from '../eval/prepare.js';
import { runEval, type EvalOptions, type EvalReport } from '../eval/run.js';
import { openDatabase } from '../db/open.js';
import { migrations } from '../schema.js';
import { writeTrecRun } from '../eval/trec.js';
import { tuneIndex, type TuneOptions, type TuneReport } from '../eval/tune.js';
import { describeIndex, indexKind } from '../store/index.js';
import { parameterPath } from '../store/index-kind.js';
import { verifyStore, type VerifyReport } from '../store/verify.js';
import type { FacadeCore } from './core.js';
import { evaluateRerank } from './rerank-rankings.js';

/** The ANN check's outcome: its report, or why there was nothing to measure (no index, no vectors). */
export type AnnOutcome = AnnCheckReport | { ok: false; error: { code: string; message: string } };

/** `reembed verify --ann`: the store checks, the ANN check, and both together in `ok`. */
export interface VerifyWithAnnReport extends VerifyReport {
  /** The store checks' verdict (`ok` is both). */
  checksOk: boolean;
  ann: AnnOutcome;
}

export interface VerifyOptions {
  /** The profile to verify (default: the active profile of the environment). */
  profile?: string;
  /** Largest accepted |norm - 1| (default 1e-5, 1e-3 for halfvec stores). */
  normTolerance?: number;
  /**
   * Stale, missing and orphaned rows with a live change queued within this long are "in flight",
   * not failures (default: rollout.max_queue_lag, 30 s; 0 counts them all as failures).
   */
  maxQueueLagMs?: number;
  /** Also measure index search (HNSW or IVFFlat) against exact search (overlap@k). */
  ann?: boolean | Omit<AnnCheckOptions, 'onProgress'>;
  /** Called before the ANN check starts (the store checks are done by then). */
  onAnnStart?: (profile: string) => void;
  onAnnProgress?: (done: number, total: number) => void;
}

export async function verify(
  core: FacadeCore,
  options: VerifyOptions = {},
): Promise<VerifyReport | VerifyWithAnnReport> {
  // Verify never calls the provider, so a profile's missing API key is no reason to refuse.
  const profile = core.storedProfile(options.profile);
  const db = await core.database();
  const source = await core.sourceFor(profile);
  const report = await verifyStore(db, source, profile, {
    normTolerance: options.normTolerance,
    maxQueueLagMs: options.maxQueueLagMs ?? core.manifest.rollout.maxQueueLag,
  });
  // The list sizes of an IVFFlat index (about one pass over the store), beside the store checks.
  if ('exists' in report.index && report.index.exists) report.index = await describeIndex(db, profile);
  if (!options.ann) return report;
  let ann: AnnOutcome;
  options.onAnnStart?.(profile.name);
  try {
    ann = await checkAnn(db, profile, {
      ...(options.ann === true ? {} : options.ann),
      onProgress: options.onAnnProgress,
    });
  } catch (error) {
    // Nothing to measure (no index, an INVALID one, no vectors) is a failed check; usage errors stay errors.
    if (!(error instanceof ReembedError) || error.exitCode !== 1) throw error;
    ann = { ok: false, error: { code: error.code, message: error.message } };
  }
  return { ...report, ok: report.ok && ann.ok, checksOk: report.ok, ann };
}

/** `reembed tune`: the sweep, and what was written to the manifest. */
export interface TuneResult extends TuneReport {
  dryRun: boolean;
  /** The manifest edit (null: nothing chosen, a dry run, or a manifest without a file). */
  written: ProfileSettingEdit | null;
}

export interface TuneRunOptions extends TuneOptions {
  /** The profile to tune (default: the active profile of the environment). */
  profile?: string;
  /** Measure and choose, but write nothing to the manifest file. */
  dryRun?: boolean;
}

export async function tune(core: FacadeCore, options: TuneRunOptions = {}): Promise<TuneResult> {
  const { profile: name, dryRun, ...rest } = options;
  // Tuning never calls the provider, so a profile's missing API key is no reason to refuse.
  const profile = core.storedProfile(name);
  const report = await tuneIndex(await core.database(), profile, rest);
  let written: ProfileSettingEdit | null = null;
  // ef_search where the profile keeps it (top level without an `index:` block), else index.<parameter>.
  if (report.choice !== null && !dryRun && core.manifest.path)
    written = setProfileSetting(
      core.manifest.path,
      profile.name,
      parameterPath(indexKind(profile), profile),
      report.choice,
    );
  return { ...report, dryRun: Boolean(dryRun), written };
}

/** `reembed eval`: the evaluation, and the files it wrote. */
export interface EvalResult extends EvalReport {
  files: { runs: string[]; history: string | null };
}

export interface EvalRunOptions extends Omit<EvalOptions, 'profiles' | 'db'> {
  /** Where to evaluate: a database target that holds no documents (default: a throwaway in-memory one). */
  database?: string;
  /** A BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). */
  dataset: string;
  /** Profiles in order; the first is the control of the comparisons. */
  profiles: string[];
  /** The judgments: qrels/<split>.tsv (default test). */
  split?: string;
  /** Write one TREC run file per profile in this directory. */
  runDir?: string;
  /** Append one JSON line per run to this file (default eval-history.jsonl; false: none). */
  history?: string | false;
  /** Called once the dataset is read and checked, before any database work. */
  onDataset?: (dataset: BeirDataset) => void;
}

/**
 * Offline evaluation on a throwaway database (in memory unless `database` names one): never
 * the facade's own database, whose documents are not the dataset's.
 */
export async function evaluate(core: FacadeCore, options: EvalRunOptions): Promise<EvalResult> {
  const { dataset: dir, profiles: names, split, runDir, history: historyFile, onDataset, database, ...rest } = options;
  const profiles = names.map((name) => getProfile(core.manifest, name));
  const problems = profiles.flatMap((p) => checkProfileEnvironment(p, core.env));
  if (problems.length) throw new ConfigError(problems);
  checkProfileList(profiles);
  // Read and check queries and judgments before any database work: a typo fails at once.
  const dataset = await readBeirDataset(dir, { split: split ?? 'test' });
  onDataset?.(dataset);
  const db = await openDatabase(database ?? 'memory://', { migrations });
  let evaluated: Awaited<ReturnType<typeof runEval>>;
  let reranked: Awaited<ReturnType<typeof evaluateRerank>>;
  try {
    evaluated = await runEval(dataset, { ...rest, profiles, db });
    // Profiles with a rerank stage: the exact rankings reranked, before the database goes.
    reranked = await evaluateRerank(db, profiles, dataset, evaluated.rankings);
  } finally {
    await db.close();
  }
  const { rankings } = evaluated;
  const report = {
    ...evaluated.report,
    profiles: evaluated.report.profiles.map((p) =>
      reranked.has(p.profile) ? { ...p, rerank: reranked.get(p.profile)!.evaluation } : p,
    ),
  };
  const runs: string[] = [];
  if (runDir) {
    for (const [name, r] of rankings) {
      runs.push(writeTrecRun(runDir, name, r.exact));
      if (r.ann) runs.push(writeTrecRun(runDir, `${name}-ann`, r.ann));
      // The rerank arms: the exact ranking's top top_n as retrieved (off) and reranked (on).
      const arms = reranked.get(name);
      if (arms) {
        runs.push(writeTrecRun(runDir, `${name}-rerank-off`, arms.off));
        runs.push(writeTrecRun(runDir, `${name}-rerank-on`, arms.on));
      }
    }
  }
  const history = historyFile === false ? null : appendHistory(historyFile ?? DEFAULT_HISTORY_FILE, report);
  return { ...report, files: { runs, history } };
}
