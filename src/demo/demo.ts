import { buildManifest, getProfile } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import { embedSource, type EmbedProgress } from '../backfill/embed-source.js';
import { createEmbedder } from '../embedders/create.js';
import { summarize, type MetricSummary } from '../eval/metrics.js';
import { generateDataset, type Dataset } from '../eval/synthetic.js';
import { migrations } from '../schema.js';
import { countDocuments, upsertDocuments } from '../source/managed.js';
import { searchExact } from '../store/search.js';
import { ReembedError } from '../errors.js';

/** The demo's own manifest, so it runs anywhere without a reembed.yaml. */
export const DEMO_MANIFEST = {
  source: { managed: true },
  profiles: {
    demo_hash: {
      provider: 'hash',
      dims: 1024,
      metric: 'cosine',
      hash: { word_ngrams: [1, 1], char_ngrams: [3, 5], seed: 0 },
    },
  },
  environments: { development: { profile: 'demo_hash' } },
} as const;

export interface DemoOptions {
  /** A database target; a throwaway in-memory embedded database by default. */
  database?: string;
  documents?: number;
  queries?: number;
  seed?: number;
  /** Called with human-readable lines and progress as the demo runs. */
  reporter?: DemoReporter;
}

export interface DemoReporter {
  step(message: string): void;
  progress(label: string, done: number, total: number, extra?: string): void;
  progressDone(label: string): void;
}

export interface ProfileResult extends MetricSummary {
  profile: string;
  fingerprint: string;
  provider: string;
  dims: number;
  embedSeconds: number;
  documentsPerSecond: number;
  queryLatencyP50Ms: number;
  queryLatencyP95Ms: number;
}

export interface DemoResult {
  database: string;
  documents: number;
  queries: number;
  seed: number;
  profiles: ProfileResult[];
}

/** State the demo's steps share; later steps (migration, rollout) build on it. */
interface DemoContext {
  db: Database;
  dataset: Dataset;
  reporter: DemoReporter;
  results: ProfileResult[];
}

const silent: DemoReporter = { step() {}, progress() {}, progressDone() {} };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function loadCorpus(ctx: DemoContext): Promise<void> {
  const started = performance.now();
  const { corpus } = ctx.dataset;
  for (let i = 0; i < corpus.length; i += 500) {
    await upsertDocuments(
      ctx.db,
      corpus.slice(i, i + 500).map((d) => ({ id: d.id, content: d.text })),
    );
    ctx.reporter.progress('load', Math.min(i + 500, corpus.length), corpus.length);
  }
  ctx.reporter.progressDone('load');
  ctx.reporter.step(
    `loaded ${corpus.length} documents into the managed source in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

async function embedAndEvaluate(ctx: DemoContext, profile: Profile): Promise<ProfileResult> {
  const embedder = createEmbedder(profile);
  const label = `embed ${profile.name}`;
  const embedded = await embedSource(ctx.db, profile, embedder, {
    onProgress: (p: EmbedProgress) => ctx.reporter.progress(label, p.done, p.total),
  });
  ctx.reporter.progressDone(label);
  ctx.reporter.step(
    `embedded ${embedded.done} documents with ${profile.name} (${profile.provider}, ${profile.dims} dims, ${profile.metric}) in ${embedded.seconds.toFixed(1)} s`,
  );

  const rankings = new Map<string, string[]>();
  const latencies: number[] = [];
  for (const [i, query] of ctx.dataset.queries.entries()) {
    const t0 = performance.now();
    const { vectors } = await embedder.embed([query.text], 'query');
    const hits = await searchExact(ctx.db, profile, vectors[0]!, 10);
    latencies.push(performance.now() - t0);
    rankings.set(
      query.id,
      hits.map((h) => h.id),
    );
    ctx.reporter.progress(`search ${profile.name}`, i + 1, ctx.dataset.queries.length);
  }
  ctx.reporter.progressDone(`search ${profile.name}`);
  latencies.sort((a, b) => a - b);
  const metrics = summarize(rankings, ctx.dataset.qrels);
  ctx.reporter.step(
    `ran ${ctx.dataset.queries.length} queries (exact search, k=10), p50 ${percentile(latencies, 50).toFixed(1)} ms`,
  );
  return {
    profile: profile.name,
    fingerprint: profile.fingerprint,
    provider: profile.provider,
    dims: profile.dims,
    embedSeconds: embedded.seconds,
    documentsPerSecond: embedded.done / Math.max(embedded.seconds, 1e-9),
    queryLatencyP50Ms: percentile(latencies, 50),
    queryLatencyP95Ms: percentile(latencies, 95),
    ...metrics,
  };
}

/**
 * The guided tour: generate a corpus with known answers, load it, embed it with a hash
 * profile, search every query and measure retrieval quality. Steps are plain functions over
 * one context, so the migration story (backfill, shadow, canary, rollback) adds steps here.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const reporter = options.reporter ?? silent;
  const documents = options.documents ?? 2400;
  const queries = options.queries ?? 240;
  const seed = options.seed ?? 42;
  const manifest = buildManifest(DEMO_MANIFEST, null);
  const db = await openDatabase(options.database ?? 'memory://', { migrations });
  try {
    if ((await countDocuments(db)) > 0) {
      throw new ReembedError(
        'DEMO_NEEDS_EMPTY_DATABASE',
        `the demo needs a database without managed documents, and ${db.target} has some`,
        {
          exitCode: 2,
        },
      );
    }
    const dataset = generateDataset({ documents, queries, seed });
    reporter.step(
      `generated ${dataset.corpus.length} documents and ${dataset.queries.length} queries with known relevant documents (seed ${seed})`,
    );
    const ctx: DemoContext = { db, dataset, reporter, results: [] };
    await loadCorpus(ctx);
    ctx.results.push(await embedAndEvaluate(ctx, getProfile(manifest, 'demo_hash')));
    return { database: db.target, documents, queries, seed, profiles: ctx.results };
  } finally {
    await db.close();
  }
}
