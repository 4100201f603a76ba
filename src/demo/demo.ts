import { buildManifest, getProfile } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import { prepareBackfill, runBackfill } from '../backfill/backfill.js';
import type { Manifest } from '../config/manifest.js';
import { createEmbedder } from '../embedders/create.js';
import { resolveSource, type Source } from '../source/source.js';
import { verifyStore, type VerifyReport } from '../store/verify.js';
import { planMigration, startMigration, type LifecycleContext } from '../migration/lifecycle.js';
import { rolloutStory, slowQueries, type RolloutResult } from './rollout.js';
import { evaluateRankings, type RetrievalSummary } from '../eval/metrics.js';
import { generateDataset, type Dataset } from '../eval/synthetic.js';
import { migrations } from '../schema.js';
import { countDocuments, upsertDocuments } from '../source/managed.js';
import { searchExact } from '../store/search.js';
import { ReembedError } from '../errors.js';
import { backfillPlanner } from '../backfill/planner.js';
import { truncatedPercent } from '../percent.js';

/** The demo's own manifest, so it runs anywhere without a reembed.yaml. */
export const DEMO_MANIFEST = {
  source: { managed: true },
  profiles: {
    // The baseline: small vectors, so hash collisions blur words together.
    hash_small: {
      provider: 'hash',
      dims: 256,
      metric: 'cosine',
      hash: { word_ngrams: [1, 1], char_ngrams: [3, 5], seed: 0 },
    },
    // The candidate: four times the dimensions, fewer collisions.
    hash_large: {
      provider: 'hash',
      dims: 1024,
      metric: 'cosine',
      hash: { word_ngrams: [1, 1], char_ngrams: [3, 5], seed: 0 },
    },
  },
  environments: { development: { profile: 'hash_small' } },
} as const;

export interface DemoOptions {
  /** A database target; a throwaway in-memory embedded database by default. */
  database?: string;
  documents?: number;
  queries?: number;
  seed?: number;
  /** Called with human-readable lines and progress as the demo runs. */
  reporter?: DemoReporter;
  /**
   * Added to every query embedding of both profiles (offline evaluation and rollout alike): a
   * slow or loaded machine on demand, which the story must survive unchanged (tests use it).
   */
  queryDelayMs?: number;
}

export interface DemoReporter {
  step(message: string): void;
  progress(label: string, done: number, total: number, extra?: string): void;
  progressDone(label: string): void;
}

export interface ProfileResult extends RetrievalSummary {
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
  /** Documents changed while both profiles capture: what the queue carried to both stores. */
  liveChanges: { updated: number; deleted: number; inserted: number };
  verify: Array<Pick<VerifyReport, 'profile' | 'ok' | 'coverage' | 'sourceRows' | 'currentRows'>>;
  rollout: RolloutResult;
}

/** State the demo's steps share; later steps (migration, rollout) build on it. */
interface DemoContext {
  db: Database;
  manifest: Manifest;
  source: Source;
  dataset: Dataset;
  reporter: DemoReporter;
  results: ProfileResult[];
  queryDelayMs: number;
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

async function backfill(
  ctx: DemoContext,
  profile: Profile,
  planned = false,
): Promise<{ seconds: number; rows: number }> {
  const label = `backfill ${profile.name}`;
  // A migration's start has planned the candidate's chunks already.
  const plan = planned
    ? { sourceRows: ctx.dataset.corpus.length, chunks: Math.ceil(ctx.dataset.corpus.length / 1000) }
    : await prepareBackfill(ctx.db, ctx.source, profile, ctx.manifest.profiles, { chunkSize: 500 });
  let done = 0;
  const run = await runBackfill(ctx.db, {
    source: ctx.source,
    profiles: [profile],
    onProgress: (s) => {
      done = s.rowsEmbedded;
      ctx.reporter.progress(label, done, plan.sourceRows);
    },
  });
  ctx.reporter.progressDone(label);
  const rows = run.workers.reduce((a, w) => a + w.rowsEmbedded, 0);
  ctx.reporter.step(
    `backfilled ${profile.name} (${profile.provider}, ${profile.dims} dims): ${rows} rows in ${plan.chunks} chunks, ${run.seconds.toFixed(1)} s, coverage ${truncatedPercent(run.coverage.ratio, 1)} (counted)`,
  );
  return { seconds: run.seconds, rows };
}

async function evaluate(
  ctx: DemoContext,
  profile: Profile,
  embedded: { seconds: number; rows: number },
): Promise<ProfileResult> {
  const embedder = createEmbedder(profile, { provider: slowQueries(ctx.queryDelayMs) });
  const rankings = new Map<string, string[]>();
  const latencies: number[] = [];
  for (const [i, query] of ctx.dataset.queries.entries()) {
    const t0 = performance.now();
    const { vectors } = await embedder.embed([query.text], 'query');
    // The top 50, so Recall@50 and Contain@50 are measured too.
    const hits = await searchExact(ctx.db, profile, vectors[0]!, 50);
    latencies.push(performance.now() - t0);
    rankings.set(
      query.id,
      hits.map((h) => h.id),
    );
    ctx.reporter.progress(`search ${profile.name}`, i + 1, ctx.dataset.queries.length);
  }
  ctx.reporter.progressDone(`search ${profile.name}`);
  latencies.sort((a, b) => a - b);
  const metrics = evaluateRankings(rankings, ctx.dataset.qrels).summary;
  ctx.reporter.step(
    `ran ${ctx.dataset.queries.length} queries (exact search, k=50), p50 ${percentile(latencies, 50).toFixed(1)} ms`,
  );
  return {
    profile: profile.name,
    fingerprint: profile.fingerprint,
    provider: profile.provider,
    dims: profile.dims,
    embedSeconds: embedded.seconds,
    documentsPerSecond: embedded.rows / Math.max(embedded.seconds, 1e-9),
    queryLatencyP50Ms: percentile(latencies, 50),
    queryLatencyP95Ms: percentile(latencies, 95),
    ...metrics,
  };
}

/**
 * While both profiles capture the source, the application keeps writing: a few documents are
 * edited, deleted and added. The triggers queue them for both profiles and a worker drains the
 * queue, so both stores follow without a second backfill.
 */
async function changeWhileCapturing(ctx: DemoContext, profiles: Profile[]): Promise<DemoResult['liveChanges']> {
  const { corpus } = ctx.dataset;
  const edited = corpus.slice(0, 20);
  await upsertDocuments(
    ctx.db,
    edited.map((d) => ({ id: d.id, content: `${d.text} (revised)` })),
  );
  const deleted = corpus.slice(20, 25).map((d) => d.id);
  await ctx.db.query('DELETE FROM reembed.documents WHERE id = ANY($1::text[])', [deleted]);
  await upsertDocuments(ctx.db, [{ id: 'doc-new-00001', content: 'A document added while the migration runs.' }]);
  const { rows } = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM reembed.queue');
  const run = await runBackfill(ctx.db, { source: ctx.source, profiles });
  const applied = run.workers.reduce((a, w) => a + w.rowsEmbedded + w.rowsDeleted, 0);
  ctx.reporter.step(
    `live changes: ${edited.length} edited, ${deleted.length} deleted, 1 added → ${rows[0]!.n} queue items for both profiles, ${applied} applied by a worker`,
  );
  return { updated: edited.length, deleted: deleted.length, inserted: 1 };
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
    const source = await resolveSource(db, manifest.source);
    const ctx: DemoContext = {
      db,
      manifest,
      source,
      dataset,
      reporter,
      results: [],
      queryDelayMs: options.queryDelayMs ?? 0,
    };
    await loadCorpus(ctx);
    const small = getProfile(manifest, 'hash_small');
    const large = getProfile(manifest, 'hash_large');
    const smallRun = await backfill(ctx, small);
    const lifecycle: LifecycleContext = { db, manifest, source, actor: 'demo', backfill: backfillPlanner };
    const { migration: planned, estimate } = await planMigration(lifecycle, small.name, large.name);
    reporter.step(
      `planned migration ${planned.id}: ${small.name} → ${large.name}, ${estimate.toEmbed} rows to embed, index ${estimate.index}`,
    );
    const started = await startMigration(lifecycle, planned);
    reporter.step(`started: capture on for both profiles (dual-write), backfill of ${large.name} planned`);
    const largeRun = await backfill(ctx, large, true);
    ctx.results.push(await evaluate(ctx, small, smallRun));
    ctx.results.push(await evaluate(ctx, large, largeRun));
    const liveChanges = await changeWhileCapturing(ctx, [small, large]);
    const verify = [];
    for (const profile of [small, large]) {
      const report = await verifyStore(db, source, profile);
      reporter.step(
        `verify ${profile.name}: ${report.ok ? 'passed' : 'FAILED'} (${report.currentRows}/${report.sourceRows} current, ${report.checks.filter((c) => !c.ok).length} failing checks)`,
      );
      verify.push({
        profile: report.profile,
        ok: report.ok,
        coverage: report.coverage,
        sourceRows: report.sourceRows,
        currentRows: report.currentRows,
      });
    }
    if (verify.some((v) => !v.ok)) {
      throw new ReembedError(
        'DEMO_VERIFY_FAILED',
        `verify failed after the demo's backfills: ${JSON.stringify(verify)}`,
      );
    }
    const rollout = await rolloutStory({
      db,
      manifest,
      source,
      dataset,
      migration: started,
      offline: new Map(ctx.results.map((r) => [r.profile, r])),
      measuredP95Ms: new Map(ctx.results.map((r) => [r.profile, r.queryLatencyP95Ms])),
      queryDelayMs: ctx.queryDelayMs,
      step: (m) => reporter.step(m),
    });
    return { database: db.target, documents, queries, seed, profiles: ctx.results, liveChanges, verify, rollout };
  } finally {
    await db.close();
  }
}
