/**
 * Runs the benchmarks: all of them, or the ones named (`npm run bench -- write`). Each runs
 * in its own node process, so one benchmark's heap, JIT state and open handles cannot color
 * the next one's figures, and with --expose-gc, so measurements start from a collected heap.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHMARKS: Record<string, { file: string; what: string }> = {
  embed: { file: 'hash-embedder.js', what: 'hash embedder throughput (texts/s, tokens/s)' },
  images: {
    file: 'images.js',
    what: 'hash-image embedder: 256x64 PNG glyphs embedded per second (decode + features + text), and its parts',
  },
  tokens: {
    file: 'token-accounting.js',
    what: 'client CPU per document of token accounting (cl100k): exact count of every input vs byte bound',
  },
  write: { file: 'vector-write.js', what: 'vector writes: writeVectors, writeIfCurrent vs binary COPY' },
  backfill: { file: 'backfill-throughput.js', what: 'backfill throughput (zero-latency embedder) vs binary COPY' },
  'backfill-rate': { file: 'backfill-ratelimit.js', what: 'backfill against a provider enforcing rpm/tpm limits' },
  load: {
    file: 'load-speed.js',
    what: 'reembed load of 1.7 KB documents into PostgreSQL: first load and a 1% re-load (rows/s)',
  },
  'backfill-latency': {
    file: 'backfill-latency.js',
    what: 'backfill rows/s against a provider at 20 and 200 ms latency, page after page vs pipelined',
  },
  'backfill-rss': { file: 'backfill-rss.js', what: 'peak RSS of a backfill worker (CLI) at 10k and 200k rows' },
  router: {
    file: 'router.js',
    what: 'router overhead vs direct pgvector query, shadow p99 impact, rollback propagation',
  },
  'shadow-cost': {
    file: 'shadow-cost.js',
    what: 'served p50/p95/p99 with shadow reads off vs 10% (queued, and not yielding) under one open-loop traffic',
  },
  'router-load': {
    file: 'router-load.js',
    what: 'router at canary 50% + shadow 0.1 under 1-512 concurrent callers (PostgreSQL), and an RSS soak',
  },
  'dead-candidate': {
    file: 'dead-candidate.js',
    what: 'a candidate whose provider dies at canary 25%, 1 search/s: time to breaker open and to rollback',
  },
  startup: {
    file: 'startup.js',
    what: "CLI start: --help, migrate status and migrate ramp against PostgreSQL, beside node -e ''",
  },
  serve: {
    file: 'serve.js',
    what: 'reembed serve: autocannon on POST /v1/search (canary 25% + shadow 0.1, PostgreSQL) vs the library in-process',
  },
  'query-cache': {
    file: 'query-cache.js',
    what: 'query-embedding cache: a hit vs a miss (hash_large), and Router.search with the cache off vs on (PGlite)',
  },
  rerank: {
    file: 'rerank.js',
    what: 'rerank stage: features reranker lift on scifact-2k (train/test halves), its overhead for 50 candidates, the http reranker against a local server',
  },
  eval: { file: 'eval.js', what: 'reembed eval throughput on scifact-2k (queries/s) vs raw exact search' },
  tune: { file: 'tune.js', what: 'reembed tune on 100k x 384 vectors (PostgreSQL): recall/p95 per ef_search, choice' },
  'index-kinds': {
    file: 'index-kinds.js',
    what: 'IVFFlat vs HNSW on 100k x 384 and 768 (PostgreSQL): build time, recall/p95 per probes and ef_search, tune choice',
  },
  fonts: {
    file: 'fonts.js',
    what: 'font search: embed + search p50/p95/p99 of a text query on the 4,096-dim hash-image store (exact), PGlite and PostgreSQL, 200 and 20k fonts',
  },
  'vs-langchain': {
    file: 'vs-langchain.js',
    what: 'reembed beside LangChain.js index() (PGVectorStore + PostgresRecordManager): sync, re-sync, model change, search',
  },
};

const here = dirname(fileURLToPath(import.meta.url));

function runOne(name: string, options: string[]): Promise<number> {
  const { file } = BENCHMARKS[name]!;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, file), ...options], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  // Options (`--rows 100000`, `--rows=100000`) go to every benchmark run; the other words name benchmarks.
  const requested: string[] = [];
  const options: string[] = [];
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) requested.push(arg);
    else if (arg.includes('=') || i + 1 >= args.length) options.push(arg);
    else options.push(arg, args[++i]!);
  }
  const unknown = requested.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}. Known:`);
    for (const [name, { what }] of Object.entries(BENCHMARKS)) console.error(`  ${name.padEnd(13)} ${what}`);
    return 2;
  }
  const names = requested.length > 0 ? requested : Object.keys(BENCHMARKS);
  let failed = 0;
  for (const name of names) {
    console.log(`\n=== ${name}: ${BENCHMARKS[name]!.what} ===\n`);
    const code = await runOne(name, options);
    if (code !== 0) {
      console.error(`benchmark ${name} failed (exit ${code})`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
