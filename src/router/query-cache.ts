import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Profile, QueryCacheSettings } from '../config/profile.js';
import type { Database } from '../db/database.js';
import type { CacheLookup } from '../telemetry/serving-metrics.js';
import { lookupShared, pruneShared, storeShared } from './query-cache-table.js';

export interface QueryCacheOptions {
  /** Background failures of the shared table (a search never fails for them). */
  onError?: (error: unknown) => void;
  /** The clock of the TTL (tests); default performance. */
  now?: () => number;
}

/** Shared writes between two prunes of the table, per process. */
const PRUNE_EVERY_WRITES = 200;

/**
 * The query-embedding cache: an in-process LRU per profile keyed by the profile fingerprint and
 * the exact query text, so a vector is never served across a fingerprint change (another
 * fingerprint is another key), and optionally a table shared by every instance
 * (`cache: { shared: true }`, query_cache-table.ts) read on a local miss. A cache never fails a
 * search: a shared read that fails is a miss, a shared write that fails is reported and dropped.
 */
export class QueryCache {
  private readonly local = new Map<string, LRUCache<string, Float32Array>>();
  private writesSincePrune = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly options: QueryCacheOptions = {},
  ) {}

  private lru(profile: Profile, settings: QueryCacheSettings): LRUCache<string, Float32Array> {
    let cache = this.local.get(profile.name);
    if (!cache) {
      const now = this.options.now;
      cache = new LRUCache<string, Float32Array>({
        max: settings.size,
        // ttlResolution 0: read the clock on every lookup (the default caches it for a millisecond of real time).
        ...(settings.ttl > 0 ? { ttl: settings.ttl, ttlAutopurge: false, ttlResolution: 0 } : {}),
        ...(now ? { perf: { now } } : {}),
      });
      this.local.set(profile.name, cache);
    }
    return cache;
  }

  /**
   * The query's vector from the cache, or from `embed` (then cached). `outcome` says which; the
   * router counts it per profile.
   */
  async vector(
    profile: Profile,
    query: string,
    embed: () => Promise<Float32Array>,
  ): Promise<{ vector: Float32Array; outcome: CacheLookup }> {
    const settings = profile.cache;
    if (settings.size === 0) return { vector: await embed(), outcome: 'off' };
    const key = `${profile.fingerprint}\u0000${query}`;
    const lru = this.lru(profile, settings);
    const cached = lru.get(key);
    if (cached) return { vector: cached, outcome: 'hit' };
    const digest = settings.shared ? createHash('sha256').update(query).digest() : null;
    if (digest) {
      const shared = await lookupShared(this.db, profile.fingerprint, digest, settings.ttl, profile.dims).catch(
        (error: unknown) => {
          this.options.onError?.(error);
          return null;
        },
      );
      if (shared) {
        lru.set(key, shared);
        return { vector: shared, outcome: 'shared_hit' };
      }
    }
    const vector = await embed();
    lru.set(key, vector);
    if (digest) this.share(profile, settings, digest, vector);
    return { vector, outcome: 'miss' };
  }

  /** Fire and forget: the search has its vector already. */
  private share(profile: Profile, settings: QueryCacheSettings, digest: Buffer, vector: Float32Array): void {
    const prune = ++this.writesSincePrune >= PRUNE_EVERY_WRITES;
    if (prune) this.writesSincePrune = 0;
    const work = (async () => {
      await storeShared(this.db, profile.fingerprint, digest, vector);
      if (prune) await pruneShared(this.db, profile.fingerprint, settings);
    })()
      .catch((error: unknown) => this.options.onError?.(error))
      .finally(() => this.pending.delete(work));
    this.pending.add(work);
  }

  /** Entries held in this process for a profile (status, tests). */
  size(profile: string): number {
    return this.local.get(profile)?.size ?? 0;
  }

  /** Waits for the shared writes in flight (close, tests). */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
