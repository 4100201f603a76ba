/**
 * Online quality signals (the RAG runbook's "mean similarity of results" and a near-duplicate
 * detector): the top-1 score of every answered search, counted at once; and for a sample of them
 * (`router.quality_sample`, default 0.1) the mean pairwise cosine of the top 5, computed from
 * the stored vectors after the response, in a low-priority queue like the shadow reads'
 * (shadow-queue.ts), so it never competes with a search waiting to be served. Samples dropped
 * under load are not counted anywhere: the figure is a mean over what was sampled.
 */
import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { meanPairwiseCosine } from '../eval/metrics.js';
import type { SearchHit } from '../store/search.js';
import { storedVectors } from '../store/stored-vectors.js';
import type { ServingObserver } from '../telemetry/prometheus.js';
import { ShadowQueue } from './shadow-queue.js';

export const DEFAULT_QUALITY_SAMPLE = 0.1;
/** Results the diversity signal looks at. */
export const DIVERSITY_TOP = 5;

export class QualitySignals {
  private readonly queue: ShadowQueue<string>;
  private closed = false;

  constructor(
    private readonly db: Queryable,
    private readonly observer: ServingObserver,
    private readonly options: {
      sample: number;
      random: () => number;
      now: () => number;
      onError: (error: unknown) => void;
    },
  ) {
    this.queue = new ShadowQueue<string>({
      maxConcurrent: 1,
      maxQueued: 16,
      maxAgeMs: 2000,
      maxInflightServed: 1,
      now: options.now,
      onDrop: () => {},
    });
  }

  /** After a search the profile answered: never awaited by it. */
  record(profile: Profile, hits: SearchHit[]): void {
    if (hits.length === 0) return;
    this.observer.quality(profile.name, { top1Score: hits[0]!.score });
    if (this.closed || hits.length < 2 || !(this.options.random() < this.options.sample)) return;
    const ids = hits.slice(0, DIVERSITY_TOP).map((h) => h.id);
    this.queue.offer(profile.name, async () => {
      try {
        const vectors = await storedVectors(this.db, profile, ids);
        // A document deleted since the search is left out; one vector is no pair.
        const cosine = meanPairwiseCosine(ids.flatMap((id) => (vectors.has(id) ? [vectors.get(id)!] : [])));
        if (cosine !== null) this.observer.quality(profile.name, { top5Cosine: cosine });
      } catch (error) {
        try {
          this.options.onError(error);
        } catch {
          // The caller's own error handler threw: nothing is left to tell.
        }
      }
    });
  }

  /** Runs what waits, whatever the load (tests, close). */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.queue.close();
  }
}
