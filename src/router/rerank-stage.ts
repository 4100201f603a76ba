/**
 * The rerank stage of the profiles that have a `rerank:` block: the top `top_n` of the
 * retrieval are reordered by the profile's reranker and the top k returned. Its own sticky
 * rollout (the canary's bucketing, keyed `rerank:<profile>:<subject>`, so the rerank A/B is
 * independent of any model migration), a kill switch in the database (rerank-switch.ts), and a
 * circuit breaker per profile. A reranker that fails, times out or answers badly never fails the
 * search: the retrieval's order is served and counted as a fallback.
 */
import { LRUCache } from 'lru-cache';
import type CircuitBreaker from 'opossum';
import { breakerState, failFastBreaker } from './breakers.js';
import type { Profile } from '../config/profile.js';
import type { RerankSettings } from '../config/rerank.js';
import type { Queryable } from '../db/database.js';
import { renderedTexts } from '../source/rendered-text.js';
import type { Source } from '../source/source.js';
import type { SearchHit } from '../store/search.js';
import type { ServingObserver } from '../telemetry/prometheus.js';
import { normalizedValue } from './bucket.js';
import { documentWords, SCANNED_CHARS, type DocumentWords, type RerankCandidate } from './rerank-features.js';
import { HttpReranker, type HttpRerankerOptions } from './rerank-http.js';
import { loadWeights, rerankByFeatures, type RerankWeights } from './rerank-model.js';
import type { RerankSwitchWatcher } from './rerank-switch.js';
import { within } from './load.js';
import { ReembedError } from '../errors.js';
import { RateLimitedError } from '../embedders/errors.js';

/** The reranker did not answer within what was left of the search's deadline (a fallback, never the caller's error). */
class RerankBudgetError extends ReembedError {
  constructor(profile: string, ms: number) {
    super(
      'SEARCH_TIMEOUT',
      `profile ${profile}: the reranker did not answer in the ${Math.round(ms)} ms left of the search deadline`,
    );
  }
}

/** Less than this left of the search deadline: the stage falls back without asking the reranker. */
export const RERANK_MIN_BUDGET_MS = 25;

/** Which arm served a search of a profile with a rerank stage. */
export type RerankArm = 'on' | 'off' | 'fallback';

/** Reorders candidates: their indexes, best first. */
export interface Reranker {
  rerank(query: string, candidates: readonly RerankCandidate[]): Promise<number[]>;
  /** Whether a rerank may start now (an http reranker's rate_limit); absent: always. */
  admit?(): Promise<boolean>;
}

/**
 * Documents whose scanned words the features reranker keeps (by id, checked against the text):
 * popular documents recur across searches, and scanning their text is most of a rerank's cost.
 * About 2 KB of hashes per abstract-sized document and at most 4 KB (MAX_WORDS), beside at most
 * the 12,800 characters of its text that the features read: 4,096 documents hold tens of MB at
 * the very most.
 */
export const FEATURES_CACHE_DOCUMENTS = 4096;

/** The built-in reranker over a weights file, loaded (and validated) once. */
export class FeaturesReranker implements Reranker {
  private readonly cache: LRUCache<string, { text: string; words: DocumentWords }> | null;

  constructor(
    private readonly weights: RerankWeights,
    /** How many documents' words to keep between searches (0: scan every candidate every time). */
    cacheDocuments = FEATURES_CACHE_DOCUMENTS,
  ) {
    this.cache = cacheDocuments > 0 ? new LRUCache({ max: cacheDocuments }) : null;
  }

  static async load(path: string): Promise<FeaturesReranker> {
    return new FeaturesReranker(await loadWeights(path));
  }

  /**
   * A candidate's words: kept ones while the part of its text the features read is the same (a
   * changed document is scanned again). Only that part is kept (SCANNED_CHARS), so a cache of
   * long documents does not hold them whole.
   */
  private readonly wordsOf = (c: RerankCandidate): DocumentWords => {
    const scanned = c.text.length > SCANNED_CHARS ? c.text.slice(0, SCANNED_CHARS) : c.text;
    const kept = this.cache?.get(c.id);
    if (kept && kept.text === scanned) return kept.words;
    const words = documentWords(scanned);
    // A slice of a long string keeps the whole string alive in V8; a string built anew does not.
    const own = scanned === c.text ? scanned : (' ' + scanned).slice(1);
    this.cache?.set(c.id, { text: own, words });
    return words;
  };

  rerank(query: string, candidates: readonly RerankCandidate[]): Promise<number[]> {
    return Promise.resolve(rerankByFeatures(this.weights, query, candidates, this.wordsOf).order);
  }
}

/** The reranker a profile's settings name. */
export async function createReranker(
  profile: string,
  settings: RerankSettings,
  options: HttpRerankerOptions = {},
): Promise<Reranker> {
  if (settings.provider === 'features') return FeaturesReranker.load(settings.weights!);
  const http = new HttpReranker(profile, settings, options);
  return {
    rerank: (query, candidates) =>
      http.rerank(
        query,
        candidates.map((c) => c.text),
      ),
    admit: () => http.admit(),
  };
}

/**
 * Whether a subject is in a profile's rerank arm at `percent`: the canary's bucket (bucket.ts)
 * over `rerank:<profile>:<subject>`. At 100 everybody is, even without a subject; below it, a
 * request without a subject is not (it could not be sticky).
 */
export function inRerankArm(profile: string, subject: string | null | undefined, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0 || subject === undefined || subject === null || subject === '') return false;
  return normalizedValue(subject, `rerank:${profile}`) <= percent;
}

export interface RerankOutcome {
  hits: SearchHit[];
  /** Null: the profile has no rerank stage. */
  arm: RerankArm | null;
  /** The stage's time (reading the candidates' text and reranking); 0 when it did not run. */
  ms: number;
}

export interface RerankStageOptions {
  http?: HttpRerankerOptions;
  /** The breaker of each profile's reranker (defaults: opens at 50% failures over 10 s of ≥ 5, or 5 in a row; retries after 5 s). */
  breaker?: {
    errorThresholdPercentage?: number;
    resetTimeoutMs?: number;
    volumeThreshold?: number;
    consecutiveFailures?: number;
  };
  now?: () => number;
  onError?: (error: unknown) => void;
}

type Breaker = CircuitBreaker<[string, RerankCandidate[], number | undefined], number[]>;

export class RerankStage {
  private readonly breakers = new Map<string, Breaker>();
  private readonly rerankers = new Map<string, Promise<Reranker>>();
  private readonly now: () => number;

  constructor(
    private readonly db: Queryable,
    private readonly source: Source,
    private readonly switches: RerankSwitchWatcher,
    private readonly observer: ServingObserver,
    private readonly options: RerankStageOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /** The arm a subject is in for the profile now; null without a stage. */
  arm(profile: Profile, subject: string | null | undefined): 'on' | 'off' | null {
    const r = profile.rerank;
    if (!r) return null;
    if (this.switches.off(profile.name)) return 'off';
    return inRerankArm(profile.name, subject, r.percent) ? 'on' : 'off';
  }

  /** How many results to fetch from the retrieval for a search of the profile. */
  fetchCount(profile: Profile, k: number, subject: string | null | undefined): number {
    return this.arm(profile, subject) === 'on' ? Math.max(k, profile.rerank!.top_n) : k;
  }

  /** The request as the profile's retrieval runs it: its rerank arm fetches top_n candidates. */
  widen<R extends { k?: number; subject?: string | null }>(profile: Profile, request: R): R {
    return { ...request, k: this.fetchCount(profile, request.k ?? 10, request.subject) };
  }

  /** Loads a profile's reranker now (a features weights file is checked), instead of on its first search. */
  reranker(profile: Profile): Promise<Reranker> {
    let r = this.rerankers.get(profile.name);
    if (!r) {
      r = createReranker(profile.name, profile.rerank!, this.options.http);
      // A failed load is tried again on the next search (the file may be written meanwhile).
      r.catch(() => this.rerankers.delete(profile.name));
      this.rerankers.set(profile.name, r);
    }
    return r;
  }

  /**
   * Loads the rerankers of the profiles a router may serve now, so that a missing or broken
   * weights file (or an unset api_key_env) fails its start with the typed error instead of
   * every search falling back.
   */
  async load(profiles: readonly Profile[]): Promise<void> {
    for (const p of profiles) if (p.rerank) await this.reranker(p);
  }

  private breaker(profile: Profile): Breaker {
    let b = this.breakers.get(profile.name);
    if (!b) {
      // The reranker bounds its own time (timeout_ms, retries within it); what is left of the
      // search's deadline bounds it too, inside the breaker, so a reranker that is always slower
      // than the searches allow opens it instead of costing every search the rest of its deadline.
      b = failFastBreaker(async (query: string, candidates: RerankCandidate[], budgetMs: number | undefined) => {
        const reranking = (await this.reranker(profile)).rerank(query, candidates);
        return budgetMs === undefined
          ? reranking
          : within(reranking, budgetMs, () => new RerankBudgetError(profile.name, budgetMs));
      }, this.options.breaker ?? {});
      this.breakers.set(profile.name, b);
    }
    return b;
  }

  /** State of the profile's reranker circuit. */
  state(profile: string): 'closed' | 'open' | 'halfOpen' {
    return breakerState(this.breakers.get(profile));
  }

  /**
   * The top k of the hits the profile answered (fetched with fetchCount): reranked in the
   * rerank arm, in the retrieval's order otherwise or when the reranker fails.
   */
  async apply(
    profile: Profile,
    query: string,
    k: number,
    subject: string | null | undefined,
    hits: SearchHit[],
    /** What is left of the search's deadline: a slower reranker falls back instead of failing the search. */
    budgetMs?: number,
  ): Promise<RerankOutcome> {
    const arm = this.arm(profile, subject);
    if (arm === null) return { hits, arm: null, ms: 0 };
    if (arm === 'off') {
      this.observer.rerank(profile.name, { arm: 'off' });
      return { hits: hits.slice(0, k), arm: 'off', ms: 0 };
    }
    // Nothing to reorder: in the rerank arm, but neither a rerank nor a fallback to count.
    if (hits.length === 0) return { hits, arm: 'on', ms: 0 };
    const t0 = this.now();
    try {
      const reranking = (async () => {
        // Over the reranker's rate limit: served in the retrieval order at once, a fallback
        // that is not the reranker's failure (outside its breaker).
        const reranker = await this.reranker(profile);
        if (reranker.admit && !(await reranker.admit()))
          throw new RateLimitedError(
            profile.name,
            `rerank rate_limit of ${profile.rerank!.rate_limit?.rpm} requests per minute reached: served in the retrieval order`,
          );
        const ids = hits.map((h) => h.id);
        const texts = await renderedTexts(this.db, this.source, profile.template!, ids);
        const candidates = hits.map((h) => ({ id: h.id, score: h.score, text: texts.get(h.id) ?? '' }));
        if (budgetMs === undefined) return this.breaker(profile).fire(query, candidates, undefined);
        // Reading the text (or the retrieval before it) left the reranker no real chance: a
        // fallback, but not the reranker's failure, so it does not count against its breaker.
        const left = budgetMs - (this.now() - t0);
        if (left < RERANK_MIN_BUDGET_MS) throw new RerankBudgetError(profile.name, budgetMs);
        return this.breaker(profile).fire(query, candidates, left);
      })();
      const order =
        budgetMs === undefined
          ? await reranking
          : await within(reranking, budgetMs, () => new RerankBudgetError(profile.name, budgetMs));
      const ranked = order.map((i) => hits[i]!).slice(0, k);
      const ms = this.now() - t0;
      this.observer.rerank(profile.name, { arm: 'on', changed: ranked[0]!.id !== hits[0]!.id, latencyMs: ms });
      return { hits: ranked, arm: 'on', ms };
    } catch (error) {
      const ms = this.now() - t0;
      this.observer.rerank(profile.name, { arm: 'fallback', latencyMs: ms });
      try {
        this.options.onError?.(error);
      } catch {
        // The caller's handler threw: the search still gets its answer.
      }
      return { hits: hits.slice(0, k), arm: 'fallback', ms };
    }
  }

  shutdown(): void {
    for (const b of this.breakers.values()) b.shutdown();
  }
}
