/**
 * The rerank stage's operations: the kill switch (`reembed rerank on|off`, REEMBED_RERANK), its
 * state, and the offline training of the `features` reranker (`reembed rerank train`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkProfileEnvironment, getProfile } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import { openDatabase } from '../db/open.js';
import { ConfigError, ReembedError } from '../errors.js';
import { readBeirDataset } from '../eval/beir.js';
import type { Qrels } from '../eval/metrics.js';
import { profileForCorpus } from '../eval/prepare.js';
import { runEval, type EvalReporter } from '../eval/run.js';
import type { Rankings } from '../eval/trec.js';
import { candidateFeatures } from '../router/rerank-features.js';
import { fitWeights, type RerankWeights } from '../router/rerank-model.js';
import { FeaturesReranker } from '../router/rerank-stage.js';
import {
  ALL_PROFILES,
  applyEnvironmentSwitch,
  readRerankSwitches,
  setRerankSwitch,
  switchedOff,
  type RerankSwitchRow,
  type RerankSwitchState,
} from '../router/rerank-switch.js';
import { logger } from '../logger.js';
import { seededRandom } from '../random.js';
import { migrations } from '../schema.js';
import { resolveSource } from '../source/source.js';
import type { FacadeCore } from './core.js';
import { compareRerank, rankedCandidates, rerankAll, type RerankComparison } from './rerank-rankings.js';

/** Every profile's rerank stage and whether it is switched on (`reembed rerank status`). */
export interface RerankStatusReport {
  profiles: Array<{
    profile: string;
    provider: 'http' | 'features';
    topN: number;
    percent: number;
    /** `off` when the profile's switch or the switch of every profile says off. */
    state: RerankSwitchState;
  }>;
  switches: RerankSwitchRow[];
}

function rerankProfiles(core: FacadeCore): Profile[] {
  return [...core.manifest.profiles.values()].filter((p) => p.rerank);
}

export async function rerankStatus(core: FacadeCore): Promise<RerankStatusReport> {
  const switches = await readRerankSwitches(await core.database());
  return {
    profiles: rerankProfiles(core).map((p) => ({
      profile: p.name,
      provider: p.rerank!.provider,
      topN: p.rerank!.top_n,
      percent: p.rerank!.percent,
      state: switchedOff(switches, p.name) ? 'off' : 'on',
    })),
    switches,
  };
}

/**
 * Turns a profile's rerank stage (or, without a profile, every profile's) on or off for every
 * instance: they read the switch within a second. `on` for one profile does not undo an `off`
 * of every profile; turn that one on first.
 */
export async function setRerank(
  core: FacadeCore,
  state: RerankSwitchState,
  options: { profile?: string; reason?: string } = {},
): Promise<RerankStatusReport> {
  if (state !== 'on' && state !== 'off') throw new ConfigError(`rerank state must be on or off, got ${String(state)}`);
  if (options.profile !== undefined) {
    const p = getProfile(core.manifest, options.profile);
    if (!p.rerank) throw notConfigured(p.name);
  }
  await setRerankSwitch(await core.database(), options.profile ?? ALL_PROFILES, state, {
    actor: core.actor,
    reason: options.reason,
  });
  return rerankStatus(core);
}

/**
 * REEMBED_RERANK=on|off: the switch of every profile, set when a router of this process starts
 * (`on` never undoes an operator's `reembed rerank off`; see applyEnvironmentSwitch).
 */
export async function applyRerankEnvironment(core: FacadeCore): Promise<void> {
  const value = core.env.REEMBED_RERANK?.trim().toLowerCase();
  if (value === undefined || value === '') return;
  if (value !== 'on' && value !== 'off')
    throw new ConfigError(`REEMBED_RERANK must be on or off, got ${JSON.stringify(core.env.REEMBED_RERANK)}`);
  const result = await applyEnvironmentSwitch(await core.database(), value, core.actor);
  if (!result.applied)
    logger.warn(
      { switchedOffBy: result.by },
      'REEMBED_RERANK=on ignored: the rerank stage was switched off for every profile by an operator (`reembed rerank on` switches it back on)',
    );
}

function notConfigured(profile: string): ReembedError {
  return new ReembedError('RERANK_NOT_CONFIGURED', `profile ${profile} has no rerank: block`, { exitCode: 2 });
}

export interface RerankTrainOptions {
  /** A BEIR dataset directory. */
  dataset: string;
  /** The profile whose retrieval produces the candidates. */
  profile: string;
  /** Where to write the weights (default: the profile's rerank.weights). */
  out?: string;
  /** Seeds the split and the fit (default 1): the same seed writes the same weights. */
  seed?: number;
  /** Share of the judged queries held out of training and evaluated on (0 ≤ x < 1, default 0). */
  holdout?: number;
  /** Candidates per query (default: the profile's rerank.top_n, else 50). */
  topN?: number;
  epochs?: number;
  split?: string;
  /** Where the dataset is loaded (default a throwaway in-memory database). */
  database?: string;
  reporter?: EvalReporter;
}

export interface RerankTrainReport {
  profile: string;
  fingerprint: string;
  dataset: string;
  out: string;
  seed: number;
  topN: number;
  trainQueries: number;
  heldOutQueries: number;
  examples: number;
  positives: number;
  weights: RerankWeights;
  /** Before and after the rerank on the held-out queries; null without a holdout. */
  heldOut: RerankComparison | null;
}

/** Splits the judged queries by the seed: the same seed, the same halves. */
function splitQueries<T>(queries: readonly T[], holdout: number, seed: number): { train: T[]; test: T[] } {
  const shuffled = [...queries];
  const random = seededRandom(seed ^ 0x5eed);
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const testCount = Math.floor(shuffled.length * holdout);
  return { test: shuffled.slice(0, testCount), train: shuffled.slice(testCount) };
}

function restrict(rankings: Rankings, ids: ReadonlySet<string>): Rankings {
  return new Map([...rankings].filter(([q]) => ids.has(q)));
}

function restrictQrels(qrels: Qrels, ids: ReadonlySet<string>): Qrels {
  return new Map([...qrels].filter(([q]) => ids.has(q)));
}

/**
 * Trains the features reranker on a BEIR dataset's judgments: loads the corpus into a
 * throwaway database, backfills the profile, retrieves the top N of every judged query, and fits
 * logistic regression on the candidates' features (relevant: judged relevance > 0).
 */
export async function trainRerank(core: FacadeCore, options: RerankTrainOptions): Promise<RerankTrainReport> {
  const profile = getProfile(core.manifest, options.profile);
  const problems = checkProfileEnvironment(profile, core.env);
  if (problems.length) throw new ConfigError(problems);
  const seed = options.seed ?? 1;
  const holdout = options.holdout ?? 0;
  if (!Number.isInteger(seed)) throw new ConfigError(`--seed must be a whole number, got ${seed}`);
  if (!(holdout >= 0 && holdout < 1)) throw new ConfigError(`--holdout must be from 0 to below 1, got ${holdout}`);
  const outPath = options.out ?? profile.rerank?.weights;
  if (!outPath)
    throw new ConfigError(`give --out, or name the weights file in profile ${profile.name}'s rerank.weights`);
  const out = resolve(outPath);
  const topN = options.topN ?? profile.rerank?.top_n ?? 50;
  const dataset = await readBeirDataset(options.dataset, { split: options.split ?? 'test' });
  const db = await openDatabase(options.database ?? 'memory://', { migrations });
  try {
    const { rankings } = await runEval(dataset, { profiles: [profile], db, k: topN, reporter: options.reporter });
    const exact = rankings.get(profile.name)!.exact;
    const source = await resolveSource(db, { managed: true, text: '{content}' });
    const candidates = await rankedCandidates(db, source, profileForCorpus(profile).profile, exact);
    const { train, test } = splitQueries(dataset.queries, holdout, seed);
    const rows: number[][] = [];
    const labels: number[] = [];
    for (const q of train) {
      const cands = candidates.get(q.id) ?? [];
      const judged = dataset.qrels.get(q.id) ?? new Map<string, number>();
      rows.push(...candidateFeatures(q.text, cands));
      labels.push(...cands.map((c) => ((judged.get(c.id) ?? 0) > 0 ? 1 : 0)));
    }
    const positives = labels.filter((l) => l === 1).length;
    if (positives === 0)
      throw new ReembedError(
        'DATASET_INVALID',
        `no relevant document is among the top ${topN} of any training query: nothing to learn from`,
        { exitCode: 1 },
      );
    const fitted = fitWeights(rows, labels, { seed, epochs: options.epochs });
    const weights: RerankWeights = {
      ...fitted,
      trained: {
        profile: profile.name,
        fingerprint: profile.fingerprint,
        dataset: dataset.name,
        split: dataset.split,
        seed,
        topN,
        trainQueries: train.length,
        examples: rows.length,
        positives,
      },
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(weights, null, 2)}\n`);
    let heldOut: RerankComparison | null = null;
    if (test.length > 0) {
      const ids = new Set(test.map((q) => q.id));
      const reranked = await rerankAll(new FeaturesReranker(weights), test, candidates);
      heldOut = compareRerank(restrict(exact, ids), reranked.rankings, restrictQrels(dataset.qrels, ids));
    }
    return {
      profile: profile.name,
      fingerprint: profile.fingerprint,
      dataset: dataset.name,
      out,
      seed,
      topN,
      trainQueries: train.length,
      heldOutQueries: test.length,
      examples: rows.length,
      positives,
      weights,
      heldOut,
    };
  } finally {
    await db.close();
  }
}
