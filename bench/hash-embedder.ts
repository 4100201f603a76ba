/**
 * Benchmark `embed`: throughput of the built-in hash embedder through createEmbedder, i.e.
 * with the resilience layer (input checks, token estimates, batching, validation) that every
 * caller pays for, over the synthetic corpus, embedding as documents in batches of the
 * profile's batch_size the way a backfill worker does.
 *
 * Absolute figures move with the machine and with whatever else runs on it. The ratio to a
 * trivial baseline measured in the same run, in alternation with the embedder (lowercase and
 * split into words, the first step of hashing), is the figure to compare across machines.
 */
import { performance } from 'node:perf_hooks';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import { createEmbedder } from '../src/embedders/create.js';
import type { Embedder } from '../src/embedders/embedder.js';
import { generateDataset } from '../src/eval/synthetic.js';
import { intFromEnv } from './lib/env.js';
import { collectGarbage, median } from './lib/measure.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const DIMS = [384, 1536] as const;
/** The hash embedder's own word pattern, so the baseline splits exactly as it does. */
const WORD_RE = /[\p{L}\p{N}]+/gu;

const documents = intFromEnv('REEMBED_BENCH_DOCS', 20_000);
const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 5);

function lowercaseAndSplit(texts: string[]): number {
  let words = 0;
  for (const text of texts) words += text.toLowerCase().match(WORD_RE)?.length ?? 0;
  return words;
}

/** The baseline is ~15x cheaper than embedding: several passes make each of its timings long enough. */
const BASELINE_PASSES = 5;

interface Run {
  embedSeconds: number;
  /** Seconds of one baseline pass over the texts (the mean of BASELINE_PASSES). */
  baselineSeconds: number;
  tokens: number;
}

interface DimsResult {
  dims: number;
  batchSize: number;
  textsPerSecond: number;
  tokensPerSecond: number;
  baselineTextsPerSecond: number;
  /** Embedding time / baseline time for the same texts, median over runs. */
  costVsBaseline: number;
  textsPerSecondRange: [number, number];
  runs: Run[];
}

function profileFor(dims: number) {
  const name = `hash_${dims}`;
  return getProfile(buildManifest({ profiles: { [name]: { provider: 'hash', dims } } }, null), name);
}

/**
 * One pass over the texts in batches of batchSize. Each batch is timed twice back to back:
 * the baseline over it, then the embedder over it. Interleaving at batch level (milliseconds)
 * makes both see the same contention, which passes measured seconds apart on a busy machine do not.
 */
async function measure(embedder: Embedder, batchSize: number, texts: string[]): Promise<Run> {
  collectGarbage();
  let embedSeconds = 0;
  let baselineSeconds = 0;
  let tokens = 0;
  for (let i = 0; i < texts.length; i += batchSize) {
    const batch = texts.slice(i, i + batchSize);
    const t0 = performance.now();
    for (let p = 0; p < BASELINE_PASSES; p++) lowercaseAndSplit(batch);
    const t1 = performance.now();
    const result = await embedder.embed(batch, 'document');
    const t2 = performance.now();
    baselineSeconds += (t1 - t0) / 1000 / BASELINE_PASSES;
    embedSeconds += (t2 - t1) / 1000;
    // A benchmark that returned the wrong thing fast would prove nothing.
    if (result.vectors.length !== batch.length || result.vectors.some((v) => v.length !== embedder.dims)) {
      throw new Error(`embedder returned ${result.vectors.length} vectors for ${batch.length} texts, or wrong dims`);
    }
    tokens += result.usage.tokens;
  }
  return { embedSeconds, baselineSeconds, tokens };
}

function summarize(dims: number, batchSize: number, texts: number, runs: Run[]): DimsResult {
  const textsPerSecond = runs.map((r) => texts / r.embedSeconds);
  return {
    dims,
    batchSize,
    textsPerSecond: median(textsPerSecond),
    tokensPerSecond: median(runs.map((r) => r.tokens / r.embedSeconds)),
    baselineTextsPerSecond: median(runs.map((r) => texts / r.baselineSeconds)),
    costVsBaseline: median(runs.map((r) => r.embedSeconds / r.baselineSeconds)),
    textsPerSecondRange: [Math.min(...textsPerSecond), Math.max(...textsPerSecond)],
    runs,
  };
}

/**
 * One untimed pass per size first (the JIT and the regexp engine tier up over the first
 * thousands of texts), then the sizes alternate run by run, so drift on a shared machine
 * touches both alike.
 */
async function benchAll(texts: string[]): Promise<DimsResult[]> {
  const subjects = DIMS.map((dims) => {
    const profile = profileFor(dims);
    return { dims, batchSize: profile.batch_size, embedder: createEmbedder(profile), runs: [] as Run[] };
  });
  for (const s of subjects) await measure(s.embedder, s.batchSize, texts);
  for (let r = 0; r < repeats; r++) {
    for (const s of subjects) s.runs.push(await measure(s.embedder, s.batchSize, texts));
  }
  return subjects.map((s) => summarize(s.dims, s.batchSize, texts.length, s.runs));
}

async function main(): Promise<void> {
  const texts = generateDataset({ documents, queries: 1 }).corpus.map((d) => d.text);
  const chars = texts.reduce((n, t) => n + t.length, 0);
  const words = lowercaseAndSplit(texts);
  console.log(
    `hash embedder: ${formatNumber(texts.length)} synthetic documents, ${formatNumber(chars / texts.length)} chars and ` +
      `${formatNumber(words / texts.length)} words each on average; ${repeats} timed runs per size after an ` +
      `untimed one; tokens are as the embedder reports them (the hash provider counts words)`,
  );

  const results = await benchAll(texts);

  printTable(
    'Hash embedder throughput (median of runs; baseline = lowercase + split the same texts, same run)',
    ['dims', 'batch', 'texts/s', 'tokens/s', 'texts/s min-max', 'baseline texts/s', 'cost vs baseline'],
    results.map((r) => [
      String(r.dims),
      String(r.batchSize),
      formatNumber(r.textsPerSecond),
      formatNumber(r.tokensPerSecond),
      `${formatNumber(r.textsPerSecondRange[0])}-${formatNumber(r.textsPerSecondRange[1])}`,
      formatNumber(r.baselineTextsPerSecond),
      `${formatNumber(r.costVsBaseline, 1)}x`,
    ]),
  );
  const file = writeResult('embed', {
    config: { documents, repeats, baselinePasses: BASELINE_PASSES },
    corpus: { chars, words },
    results,
  });
  console.log(`\nresult: ${file}`);
}

await main();
