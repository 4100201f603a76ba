/**
 * The defaults of the ANN check and of tuning, in a module of their own that imports nothing:
 * the CLI prints them in --help without loading the code that measures.
 */
export const DEFAULT_ANN_K = 10;
export const DEFAULT_ANN_QUERIES = 100;
export const DEFAULT_ANN_THRESHOLD = 0.95;
export const DEFAULT_ANN_SEED = 1;

/** ef_search values `tune` sweeps on an HNSW index (store/index-hnsw.ts holds the same list). */
export const DEFAULT_TUNE_VALUES = [10, 20, 40, 64, 100, 200, 400] as const;
/** probes values `tune` sweeps on an IVFFlat index (store/index-ivfflat.ts holds the same list). */
export const DEFAULT_TUNE_PROBES = [1, 2, 4, 8, 12, 16, 32] as const;
/** 0.5 points of recall: recall@k of at least 0.995. */
export const DEFAULT_MAX_RECALL_LOSS = 0.005;
export const DEFAULT_TUNE_QUERIES = 200;
