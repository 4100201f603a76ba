/**
 * The rerank stage (issue 12 items 2 and 6):
 *  1. quality: the features reranker trained on a seeded half of scifact-2k's judged queries over
 *     hash_large's exact top 50 (`reembed rerank train --holdout 0.5`), scored on the other half:
 *     R@5, MRR@10, nDCG@10 before and after. Reported whatever it is.
 *  2. overhead of the features reranker for 50 candidates: the model alone (features + scores +
 *     sort), and the whole stage in Router.search on PGlite (reading the 50 candidates' text from
 *     the source, then the model), beside the same searches without a stage. Goal: ≤ 2 ms p95.
 *  3. the http reranker against a local server on 127.0.0.1 that answers at once (reverse order):
 *     the client's round trip for 50 documents, and the stage in Router.search.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { prepareBackfill, runBackfill } from '../src/backfill/backfill.js';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import { openDatabase } from '../src/db/open.js';
import { readBeirDataset } from '../src/eval/beir.js';
import { FacadeCore } from '../src/facade/core.js';
import { trainRerank } from '../src/facade/rerank.js';
import { rerankSchema } from '../src/config/rerank.js';
import { HttpReranker } from '../src/router/rerank-http.js';
import { FeaturesReranker } from '../src/router/rerank-stage.js';
import { loadWeights, rerankByFeatures } from '../src/router/rerank-model.js';
import { Router } from '../src/router/router.js';
import { migrations } from '../src/schema.js';
import { loadDocuments } from '../src/source/load.js';
import { renderedTexts } from '../src/source/rendered-text.js';
import { resolveSource } from '../src/source/source.js';
import { searchExact } from '../src/store/search.js';
import { createEmbedder } from '../src/embedders/create.js';
import { intFromEnv } from './lib/env.js';
import { collectGarbage } from './lib/measure.js';
import { machineInfo, printTable, writeResult } from './lib/report.js';

/** Beside the project root, as the eval benchmark reads it; never copied into the project. */
const SCIFACT = resolve(process.cwd(), '..', 'shared', 'datasets', 'scifact-2k');
const SEARCHES = intFromEnv('REEMBED_BENCH_RERANK_SEARCHES', 600);
const MODEL_ROUNDS = intFromEnv('REEMBED_BENCH_RERANK_MODEL_ROUNDS', 20);
const TOP_N = 50;
/** Seeds of the train/test split (and of the fit): seed 1 is reported in full, the others as lifts. */
const SPLITS = intFromEnv('REEMBED_BENCH_RERANK_SPLITS', 5);
const pick = (m: { recallAt5: number; mrrAt10: number; ndcgAt10: number }) => ({
  recallAt5: m.recallAt5,
  mrrAt10: m.mrrAt10,
  ndcgAt10: m.ndcgAt10,
});

const HASH_LARGE = {
  provider: 'hash',
  dims: 1024,
  metric: 'cosine',
  hash: { word_ngrams: [1, 1], char_ngrams: [3, 5], seed: 0 },
} as const;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p95: pct(s, 95), p99: pct(s, 99), n: s.length };
};
const us = (ms: number) => (ms * 1000).toFixed(0);

async function main(): Promise<void> {
  if (!existsSync(join(SCIFACT, 'corpus.jsonl')))
    throw new Error(
      `scifact-2k is not at ${SCIFACT} (expected beside the project root): the rerank benchmark needs it`,
    );
  const load = (await import('node:os')).loadavg()[0]!;
  const result: Record<string, unknown> = { machine: machineInfo(), loadAverage1m: load };
  const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-rerank-'));
  const weights = join(dir, 'hash_large.json');

  // 1. Train on a seeded half, score the other half.
  // The facade's training (what `reembed rerank train` runs), without the facade's entry point.
  const core = new FacadeCore(
    buildManifest({ source: { managed: true }, profiles: { hash_large: HASH_LARGE } }, null),
    process.env,
    'bench',
    'memory://',
  );
  const t0 = performance.now();
  const trained = await trainRerank(core, {
    dataset: SCIFACT,
    profile: 'hash_large',
    out: weights,
    seed: 1,
    holdout: 0.5,
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  // Other splits: how much of the lift is the split's luck.
  const splits: Array<{ seed: number; recallAt5: number; mrrAt10: number; ndcgAt10: number }> = [];
  for (let seed = 1; seed <= SPLITS; seed++) {
    const r =
      seed === 1
        ? trained
        : await trainRerank(core, {
            dataset: SCIFACT,
            profile: 'hash_large',
            out: join(dir, `seed-${seed}.json`),
            seed,
            holdout: 0.5,
          });
    splits.push({ seed, ...pick(r.heldOut!.lift) });
  }
  await core.close();
  const h = trained.heldOut!;
  printTable(
    `scifact-2k, hash_large exact top ${TOP_N}, features reranker trained on ${trained.trainQueries} queries (seed 1), scored on ${trained.heldOutQueries} held-out queries`,
    ['metric', 'retrieval', 'reranked', 'lift (pp)'],
    (['recallAt1', 'recallAt5', 'recallAt10', 'mrrAt10', 'ndcgAt10'] as const).map((m) => [
      m,
      h.before[m].toFixed(4),
      h.after[m].toFixed(4),
      `${h.lift[m] >= 0 ? '+' : ''}${(h.lift[m] * 100).toFixed(2)}`,
    ]),
  );
  console.log(
    `weights: ${JSON.stringify({ weights: trained.weights.weights.map((w) => +w.toFixed(3)), bias: +trained.weights.bias.toFixed(3) })}`,
  );
  const mean = (k: 'recallAt5' | 'mrrAt10' | 'ndcgAt10') => splits.reduce((a, x) => a + x[k], 0) / splits.length;
  const pp = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`;
  printTable(
    `Lift (pp) on the held-out half over ${SPLITS} seeded splits`,
    ['seed', 'R@5', 'MRR@10', 'nDCG@10'],
    [
      ...splits.map((x) => [String(x.seed), pp(x.recallAt5), pp(x.mrrAt10), pp(x.ndcgAt10)]),
      ['mean', pp(mean('recallAt5')), pp(mean('mrrAt10')), pp(mean('ndcgAt10'))],
    ],
  );
  result.quality = {
    splits,
    trainSeconds,
    trainQueries: trained.trainQueries,
    heldOutQueries: trained.heldOutQueries,
    examples: trained.examples,
    positives: trained.positives,
    before: h.before,
    after: h.after,
    lift: h.lift,
    weights: trained.weights.weights,
    bias: trained.weights.bias,
  };

  // 2 and 3 on one PGlite database holding the corpus and hash_large's vectors.
  const fake = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { documents } = JSON.parse(Buffer.concat(chunks).toString()) as { documents: string[] };
      const n = documents.length;
      const results = documents.map((_, i) => ({ index: n - 1 - i, relevance_score: 1 - i / n }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results }));
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
  const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const manifest = buildManifest(
    {
      source: { managed: true },
      profiles: {
        plain: HASH_LARGE,
        features: { ...HASH_LARGE, rerank: { provider: 'features', weights, top_n: TOP_N } },
        http: { ...HASH_LARGE, rerank: { provider: 'http', base_url: fakeUrl, model: 'fake', top_n: TOP_N } },
      },
      environments: { development: { profile: 'plain' } },
    },
    null,
  );
  const db = await openDatabase('memory://', { migrations });
  try {
    const dataset = await readBeirDataset(SCIFACT);
    await loadDocuments(db, dataset.corpusFile, { format: 'beir' });
    const source = await resolveSource(db, manifest.source);
    // One store per profile name: the three are backfilled alike (same vectors).
    for (const name of ['plain', 'features', 'http']) {
      const p = getProfile(manifest, name);
      await prepareBackfill(db, source, p, manifest.profiles, { chunkSize: 5000 });
      await runBackfill(db, { source, profiles: [p], pageSize: 500 });
    }
    const plain = getProfile(manifest, 'plain');
    const queries = dataset.queries.map((q) => q.text);

    // 2a. The model alone over each query's 50 candidates (texts read beforehand).
    const w = await loadWeights(weights);
    const embedder = createEmbedder(plain);
    const candidateSets = [];
    for (const q of queries) {
      const { vectors } = await embedder.embed([q], 'query');
      const hits = await searchExact(db, plain, vectors[0]!, TOP_N);
      const texts = await renderedTexts(
        db,
        source,
        plain.template!,
        hits.map((x) => x.id),
      );
      candidateSets.push({
        q,
        candidates: hits.map((x) => ({ id: x.id, score: x.score, text: texts.get(x.id) ?? '' })),
      });
    }
    for (const c of candidateSets) rerankByFeatures(w, c.q, c.candidates);
    collectGarbage();
    const modelMs: number[] = [];
    for (let r = 0; r < MODEL_ROUNDS; r++)
      for (const c of candidateSets) {
        const s = performance.now();
        rerankByFeatures(w, c.q, c.candidates);
        modelMs.push(performance.now() - s);
      }
    const model = summary(modelMs);
    // CPU time, not wall time: on a shared machine the wall time includes waiting for a core.
    collectGarbage();
    const cpu0 = process.cpuUsage();
    let reranks = 0;
    for (let r = 0; r < MODEL_ROUNDS; r++)
      for (const c of candidateSets) {
        rerankByFeatures(w, c.q, c.candidates);
        reranks++;
      }
    const cpu = process.cpuUsage(cpu0);
    const modelCpuUs = (cpu.user + cpu.system) / reranks;

    // 2a'. The reranker as the stage holds it: documents' words kept between searches (every
    // candidate here recurs, so this is the warm end; the rows above are the cold end).
    const kept = new FeaturesReranker(w, candidateSets.length * TOP_N);
    for (const c of candidateSets) await kept.rerank(c.q, c.candidates);
    collectGarbage();
    const keptMs: number[] = [];
    const keptCpu0 = process.cpuUsage();
    for (let r = 0; r < MODEL_ROUNDS; r++)
      for (const c of candidateSets) {
        const s = performance.now();
        await kept.rerank(c.q, c.candidates);
        keptMs.push(performance.now() - s);
      }
    const keptCpu = process.cpuUsage(keptCpu0);
    const keptCpuUs = (keptCpu.user + keptCpu.system) / keptMs.length;

    // 2b / 3b. The stage in Router.search: the same queries through three routers, interleaved.
    const routers = {
      plain: await new Router(db, manifest, source, {
        defaultProfile: 'plain',
        hotDocuments: false,
        metrics: false,
      }).start(),
      features: await new Router(db, manifest, source, {
        defaultProfile: 'features',
        hotDocuments: false,
        metrics: false,
      }).start(),
      http: await new Router(db, manifest, source, {
        defaultProfile: 'http',
        hotDocuments: false,
        metrics: false,
      }).start(),
    };
    const times = {
      plain: [] as number[],
      features: [] as number[],
      http: [] as number[],
      featuresStage: [] as number[],
      httpStage: [] as number[],
    };
    for (const q of queries.slice(0, 20)) for (const r of Object.values(routers)) await r.search(q, { k: 10 });
    collectGarbage();
    let fallbacks = 0;
    for (let i = 0; i < SEARCHES; i++) {
      const q = queries[i % queries.length]!;
      const a = await routers.plain.search(q, { k: 10 });
      times.plain.push(a.latencyMs.total);
      const b = await routers.features.search(q, { k: 10 });
      times.features.push(b.latencyMs.total);
      times.featuresStage.push(b.latencyMs.rerank);
      const c = await routers.http.search(q, { k: 10 });
      times.http.push(c.latencyMs.total);
      times.httpStage.push(c.latencyMs.rerank);
      if (b.rerank !== 'on' || c.rerank !== 'on') fallbacks++;
    }
    for (const r of Object.values(routers)) await r.close();

    // 3a. The http client alone: 50 documents to the local server and back.
    const http = new HttpReranker('http', rerankSchema.parse({ provider: 'http', base_url: fakeUrl, model: 'fake' }));
    const httpMs: number[] = [];
    for (let i = 0; i < SEARCHES; i++) {
      const c = candidateSets[i % candidateSets.length]!;
      const s = performance.now();
      await http.rerank(
        c.q,
        c.candidates.map((x) => x.text),
      );
      httpMs.push(performance.now() - s);
    }
    const s = {
      model,
      modelCpuUsMean: modelCpuUs,
      modelKept: summary(keptMs),
      modelKeptCpuUsMean: keptCpuUs,
      featuresStage: summary(times.featuresStage),
      httpClient: summary(httpMs),
      httpStage: summary(times.httpStage),
      plain: summary(times.plain),
      features: summary(times.features),
      http: summary(times.http),
    };
    printTable(
      `Rerank overhead, ${TOP_N} candidates of scifact-2k (hash_large, PGlite), µs`,
      ['what', 'p50 µs', 'p95 µs', 'p99 µs', 'n'],
      [
        ['features model alone, CPU time per rerank (mean)', modelCpuUs.toFixed(0), '', '', String(reranks)],
        [
          'features model alone (features, scores, sort)',
          us(s.model.p50),
          us(s.model.p95),
          us(s.model.p99),
          String(s.model.n),
        ],
        ['features model, words kept, CPU time per rerank (mean)', keptCpuUs.toFixed(0), '', '', String(keptMs.length)],
        [
          'features model, words kept (recurring documents)',
          us(s.modelKept.p50),
          us(s.modelKept.p95),
          us(s.modelKept.p99),
          String(s.modelKept.n),
        ],
        [
          'features stage in search (read 50 texts + model)',
          us(s.featuresStage.p50),
          us(s.featuresStage.p95),
          us(s.featuresStage.p99),
          String(s.featuresStage.n),
        ],
        [
          'http client alone (local server, 50 docs)',
          us(s.httpClient.p50),
          us(s.httpClient.p95),
          us(s.httpClient.p99),
          String(s.httpClient.n),
        ],
        [
          'http stage in search (read 50 texts + round trip)',
          us(s.httpStage.p50),
          us(s.httpStage.p95),
          us(s.httpStage.p99),
          String(s.httpStage.n),
        ],
      ],
    );
    printTable(
      `Router.search total, k 10, ${SEARCHES} searches each, interleaved (ms)`,
      ['profile', 'p50 ms', 'p95 ms'],
      [
        ['no rerank stage (top 10)', s.plain.p50.toFixed(2), s.plain.p95.toFixed(2)],
        ['features stage (top 50 → 10)', s.features.p50.toFixed(2), s.features.p95.toFixed(2)],
        ['http stage (top 50 → 10)', s.http.p50.toFixed(2), s.http.p95.toFixed(2)],
      ],
    );
    if (fallbacks) console.log(`WARNING: ${fallbacks} searches were not reranked (fallback)`);
    result.overhead = {
      topN: TOP_N,
      searches: SEARCHES,
      fallbacks,
      ...s,
      goal: 'features stage p95 ≤ 2 ms for 50 candidates',
    };
    console.log(
      `\nload average (1 min) at the start: ${load.toFixed(2)}, at the end: ${(await import('node:os')).loadavg()[0]!.toFixed(2)}`,
    );
    console.log(`results: ${writeResult('rerank', result)}`);
  } finally {
    await db.close();
    fake.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
