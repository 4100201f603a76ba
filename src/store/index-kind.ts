import type { IndexType, Profile } from '../config/profile.js';

/** What an index kind needs of a profile. */
export type IndexProfile = Pick<Profile, 'name' | 'dims' | 'metric'> & Partial<Pick<Profile, 'index' | 'ef_search'>>;

/** The search-time parameter of a kind: what `tune` sweeps and each search sets. */
export interface SweptParameter {
  /** The manifest key (under `index:`; HNSW also reads the older top-level `ef_search`). */
  name: 'ef_search' | 'probes';
  /** The values `reembed tune` measures by default. */
  defaults: readonly number[];
  min: number;
  max: number;
  /** pgvector's own default: a search at this value needs no setting (and no transaction). */
  pgvectorDefault: number;
  /** reembed's value when the profile sets none. */
  fallback: number;
}

/**
 * One kind of ANN index (one file each: store/index-hnsw.ts, store/index-ivfflat.ts). A kind
 * says how its index is built, which build options make an existing index current, and what a
 * search sets on its session; store/index.ts builds, finds and drops indexes through it.
 */
export interface IndexKind {
  type: IndexType;
  /** The access method (pg_am.amname) of its indexes. */
  accessMethod: string;
  /** The build options (CREATE INDEX … WITH), from the profile and the store's row count. */
  buildOptions(profile: IndexProfile, storeRows: number): Record<string, number>;
  /** Whether the build needs the row count (counting is a scan; only kinds that need it pay). */
  needsRowCount: boolean;
  /**
   * Whether an existing index with these reloptions is the one the profile asks for. Only
   * options the profile sets explicitly count (a default that follows the row count does not
   * rebuild as the store grows).
   */
  matches(profile: IndexProfile, reloptions: Record<string, number>): boolean;
  parameter: SweptParameter;
  /** The profile's configured value of the parameter, or undefined. */
  configured(profile: IndexProfile): number | undefined;
  /** The value a search of k results runs with (HNSW returns at most ef_search rows, so it is raised to k). */
  effective(value: number, k: number): number;
  /** SET LOCAL statements of one search (a filtered one turns on iterative scans). */
  sessionSettings(value: number, filtered: boolean): string[];
  /** One line for status and logs. */
  describe(reloptions: Record<string, number>, value: number): string;
}

/** The manifest path of a kind's parameter, for writing it back (tune). */
export function parameterPath(kind: IndexKind, profile: IndexProfile): string[] {
  // A profile without an `index:` block, or one that sets ef_search at the top level, keeps its
  // HNSW ef_search where it always was.
  if (kind.type === 'hnsw' && (profile.index === undefined || profile.ef_search !== undefined)) return ['ef_search'];
  return ['index', kind.parameter.name];
}
