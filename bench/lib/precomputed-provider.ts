/**
 * A zero-latency embedding provider for throughput benchmarks: it answers every text at once
 * with one of a fixed pool of precomputed random unit vectors, chosen by a hash of the text.
 * Plugged in through CreateEmbedderOptions.provider, it runs inside the normal resilience
 * layer (input checks, token estimates, batching, concurrency, validation, normalization), so
 * a backfill measured with it pays everything except the model itself.
 *
 * The same text always gets the same vector, so a binary COPY of "what the model would have
 * returned" can be built off the clock from the pool, and stored rows can be checked.
 */
import type { Profile } from '../../src/config/profile.js';
import type { ProviderClient } from '../../src/embedders/provider.js';
import { makeVectorSet } from './vectors.js';

/** Enough distinct vectors that neighbouring rows differ; few enough to stay small in memory. */
export const POOL_SIZE = 4096;

/** FNV-1a over UTF-16 code units: cheap, and only used to pick a pool entry. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface VectorPool {
  dims: number;
  vectors: Float32Array[];
  /** The pool vector the provider returns for this (prefixed) input text. */
  vectorFor(text: string): Float32Array;
}

export function makeVectorPool(dims: number, size = POOL_SIZE, seed = 7): VectorPool {
  const vectors = makeVectorSet(size, dims, seed).vectors;
  return { dims, vectors, vectorFor: (text) => vectors[fnv1a(text) % vectors.length]! };
}

/**
 * CreateEmbedderOptions.provider for a pool. The client keeps the profile's provider name, so
 * the resilience layer picks the same token counter as for the real provider (for `hash`, the
 * cheap chars/4 estimate). Every request counts, so benchmarks can check the batching.
 */
export function poolProvider(pool: VectorPool, counter?: { requests: number; texts: number }) {
  return (profile: Profile): ProviderClient => {
    if (profile.dims !== pool.dims)
      throw new Error(`pool has ${pool.dims} dims, profile ${profile.name} ${profile.dims}`);
    return {
      provider: profile.provider,
      async embedBatch(texts) {
        if (counter) {
          counter.requests++;
          counter.texts += texts.length;
        }
        return { vectors: texts.map((t) => pool.vectorFor(t)) };
      },
    };
  };
}
