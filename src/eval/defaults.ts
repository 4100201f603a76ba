/**
 * The defaults of the ANN check and of tuning, in a module of their own that imports nothing:
 * the CLI prints them in --help without loading the code that measures.
 */
export const DEFAULT_ANN_K = 10;
export const DEFAULT_ANN_QUERIES = 100;
export const DEFAULT_ANN_THRESHOLD = 0.95;
export const DEFAULT_ANN_SEED = 1;

export const DEFAULT_TUNE_VALUES = [10, 20, 40, 64, 100, 200, 400] as const;
/** 0.5 points of recall: recall@k of at least 0.995. */
export const DEFAULT_MAX_RECALL_LOSS = 0.005;
export const DEFAULT_TUNE_QUERIES = 200;
