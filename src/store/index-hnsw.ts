import type { IndexKind, IndexProfile } from './index-kind.js';

/** pgvector's defaults for HNSW builds. */
const DEFAULT_M = 16;
const DEFAULT_EF_CONSTRUCTION = 64;

function settings(profile: IndexProfile): { m?: number; ef_construction?: number; ef_search?: number } {
  return profile.index?.type === 'hnsw' ? profile.index : {};
}

/**
 * HNSW: a graph built once after the backfill; searches widen with hnsw.ef_search. Built with
 * pgvector's defaults (m 16, ef_construction 64) unless the profile sets them.
 */
export const hnswKind: IndexKind = {
  type: 'hnsw',
  accessMethod: 'hnsw',
  needsRowCount: false,
  buildOptions(profile) {
    const { m, ef_construction } = settings(profile);
    return { ...(m === undefined ? {} : { m }), ...(ef_construction === undefined ? {} : { ef_construction }) };
  },
  matches(profile, reloptions) {
    const { m, ef_construction } = settings(profile);
    return (
      (reloptions.m ?? DEFAULT_M) === (m ?? DEFAULT_M) &&
      (reloptions.ef_construction ?? DEFAULT_EF_CONSTRUCTION) === (ef_construction ?? DEFAULT_EF_CONSTRUCTION)
    );
  },
  parameter: {
    name: 'ef_search',
    defaults: [10, 20, 40, 64, 100, 200, 400],
    min: 1,
    max: 1000,
    pgvectorDefault: 40,
    fallback: 40,
  },
  configured(profile) {
    return settings(profile).ef_search ?? profile.ef_search;
  },
  effective(value, k) {
    return Math.max(k, value);
  },
  sessionSettings(value, filtered) {
    return [
      `SET LOCAL hnsw.ef_search = ${Math.trunc(value)}`,
      ...(filtered ? ['SET LOCAL hnsw.iterative_scan = relaxed_order'] : []),
    ];
  },
  describe(reloptions, value) {
    return `hnsw (m ${reloptions.m ?? DEFAULT_M}, ef_construction ${reloptions.ef_construction ?? DEFAULT_EF_CONSTRUCTION}), ef_search ${value}`;
  },
};
