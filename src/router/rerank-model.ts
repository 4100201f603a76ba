/**
 * The `features` reranker's model: logistic regression over standardized candidate features
 * (rerank-features.ts), its weights file, and the offline fit `reembed rerank train` runs.
 * Deterministic given a seed: the only randomness is the order of examples in each epoch.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ReembedError } from '../errors.js';
import { seededRandom } from '../random.js';
import { candidateFeatures, type DocumentWords, FEATURE_NAMES, type RerankCandidate } from './rerank-features.js';

export const WEIGHTS_KIND = 'reembed-rerank-features';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const weightsSchema = z
  .object({
    kind: z.literal(WEIGHTS_KIND),
    version: z.literal(1),
    features: z.array(z.string()),
    weights: z.array(finite),
    bias: finite,
    mean: z.array(finite),
    std: z.array(finite.refine((v) => v > 0, 'must be positive')),
    trained: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .refine(
    (w) =>
      JSON.stringify(w.features) === JSON.stringify(FEATURE_NAMES) &&
      w.weights.length === FEATURE_NAMES.length &&
      w.mean.length === FEATURE_NAMES.length &&
      w.std.length === FEATURE_NAMES.length,
    { message: `features, weights, mean and std must follow the features ${FEATURE_NAMES.join(', ')}` },
  );

export type RerankWeights = z.output<typeof weightsSchema>;

/** A weights file that is missing, unreadable or not a weights file: a configuration error. */
export class RerankWeightsError extends ReembedError {
  constructor(message: string, cause?: unknown) {
    super('RERANK_WEIGHTS_INVALID', message, { exitCode: 2, cause });
  }
}

export function parseWeights(raw: unknown, where: string): RerankWeights {
  const parsed = weightsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RerankWeightsError(
      `${where}: not a rerank weights file (${issue.path.join('.') || 'file'}: ${issue.message})`,
    );
  }
  return parsed.data;
}

export async function loadWeights(path: string): Promise<RerankWeights> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new RerankWeightsError(
      `cannot read rerank weights ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}); write them with reembed rerank train`,
      error,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new RerankWeightsError(`${path}: not JSON (${(error as Error).message})`, error);
  }
  return parseWeights(raw, path);
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** The model's relevance probability of each feature row. */
export function scoreRows(w: RerankWeights, rows: readonly number[][]): number[] {
  return rows.map((row) => {
    let z = w.bias;
    for (let j = 0; j < row.length; j++) z += w.weights[j]! * ((row[j]! - w.mean[j]!) / w.std[j]!);
    return sigmoid(z);
  });
}

/**
 * The candidates' indexes in the model's order: by score, ties kept in the retrieval's order.
 * Returns the scores beside, in the candidates' order.
 */
export function rerankByFeatures(
  w: RerankWeights,
  query: string,
  candidates: readonly RerankCandidate[],
  wordsOf?: (candidate: RerankCandidate) => DocumentWords,
): { order: number[]; scores: number[] } {
  const scores = scoreRows(w, candidateFeatures(query, candidates, wordsOf));
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return { order, scores };
}

export interface TrainOptions {
  seed: number;
  /** Passes over the examples (default 200). */
  epochs?: number;
  learningRate?: number;
  /** L2 penalty on the weights (not the bias). */
  l2?: number;
}

/**
 * Fits logistic regression by stochastic gradient descent over standardized features. Positives
 * are weighted by negatives/positives, so a judged query's few relevant documents are not
 * drowned by the many unjudged candidates.
 */
export function fitWeights(
  rows: readonly number[][],
  labels: readonly number[],
  options: TrainOptions,
): Omit<RerankWeights, 'trained'> {
  const d = FEATURE_NAMES.length;
  if (rows.length === 0 || rows.length !== labels.length) throw new RerankWeightsError('no training examples');
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length);
  const std = mean.map((m, j) => {
    const v = rows.reduce((s, r) => s + (r[j]! - m) ** 2, 0) / rows.length;
    return Math.sqrt(v) > 1e-9 ? Math.sqrt(v) : 1;
  });
  const x = rows.map((r) => r.map((v, j) => (v - mean[j]!) / std[j]!));
  const positives = labels.filter((l) => l > 0).length;
  const posWeight = positives > 0 ? Math.max(1, (labels.length - positives) / positives) : 1;
  const w = new Array<number>(d).fill(0);
  let bias = 0;
  const epochs = options.epochs ?? 200;
  const lr0 = options.learningRate ?? 0.05;
  const l2 = options.l2 ?? 1e-4;
  const random = seededRandom(options.seed);
  const order = rows.map((_, i) => i);
  for (let epoch = 0; epoch < epochs; epoch++) {
    // Fisher-Yates with the seeded generator: the same seed visits the same order.
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const lr = lr0 / (1 + epoch / 20);
    for (const i of order) {
      const xi = x[i]!;
      let z = bias;
      for (let j = 0; j < d; j++) z += w[j]! * xi[j]!;
      const y = labels[i]! > 0 ? 1 : 0;
      const g = (sigmoid(z) - y) * (y === 1 ? posWeight : 1);
      for (let j = 0; j < d; j++) w[j] = w[j]! - lr * (g * xi[j]! + l2 * w[j]!);
      bias -= lr * g;
    }
  }
  return { kind: WEIGHTS_KIND, version: 1, features: [...FEATURE_NAMES], weights: w, bias, mean, std };
}
