/**
 * Benchmark `write`: rows/s of reembed's vector write path (ensureStore + writeVectors in
 * batches) against binary COPY of the same rows into the same kind of store table, on PGlite
 * and on PostgreSQL, at 384 and 1536 dims. COPY is the ceiling for bulk loading; the ratio
 * reembed/COPY, measured in the same run with the two paths alternating, is the figure to
 * compare across machines and the one later backfill targets are set against.
 */
import { performance } from 'node:perf_hooks';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import type { Profile } from '../src/config/profile.js';
import { vectorLiteral } from '../src/db/sql.js';
import { checkVector } from '../src/store/write.js';
import { openPgliteBackend } from './lib/backend-pglite.js';
import { openPostgresBackend } from './lib/backend-postgres.js';
import { copyChunks } from './lib/copy-binary.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { collectGarbage, median } from './lib/measure.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { byteLength, makeVectorSet, storedVectors, type VectorSet } from './lib/vectors.js';
import type { WriteBackend } from './lib/write-backend.js';

const BACKENDS = ['pglite', 'postgres'] as const;
const backends = listFromEnv('REEMBED_BENCH_BACKENDS', [...BACKENDS], BACKENDS);
const batch = intFromEnv('REEMBED_BENCH_BATCH', 500);
const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 3);
// COPY finishes the same rows in well under a second, so each run takes the median of a few
// COPYs (each into a fresh table): its noise would otherwise be most of the ratio's noise.
const copyPasses = intFromEnv('REEMBED_BENCH_COPY_PASSES', 3);
// Sized so that reembed's path takes a few seconds per measurement on a 2-core machine.
const sizes = [
  { dims: 384, rows: intFromEnv('REEMBED_BENCH_ROWS_384', 20_000) },
  { dims: 1536, rows: intFromEnv('REEMBED_BENCH_ROWS_1536', 10_000) },
];

type Path = 'reembed' | 'copy';

function profileFor(dims: number, path: Path, run: number): Profile {
  const name = `bench_${dims}_${path}_${run}`;
  return getProfile(buildManifest({ profiles: { [name]: { provider: 'hash', dims } } }, null), name);
}

interface Run {
  reembedSeconds: number;
  /** Median of the run's COPY passes. */
  copySeconds: number;
  copyPassSeconds: number[];
}

interface SizeResult {
  backend: string;
  dims: number;
  rows: number;
  reembedRowsPerSecond: number;
  copyRowsPerSecond: number;
  /** reembed rows/s ÷ COPY rows/s, median over runs (each run's two figures side by side). */
  reembedOverCopy: number;
  ratioRange: [number, number];
  runs: Run[];
}

/** Alternates which path goes first, so neither always gets the warmer (or noisier) slot. */
async function measureSize(backend: WriteBackend, set: VectorSet): Promise<SizeResult> {
  const rows = storedVectors(set);
  const runs: Run[] = [];
  for (let r = 0; r < repeats; r++) {
    const order: Path[] = r % 2 === 0 ? ['reembed', 'copy'] : ['copy', 'reembed'];
    const run: Partial<Run> = {};
    for (const path of order) {
      const profile = profileFor(set.dims, path, r);
      if (path === 'reembed') {
        run.reembedSeconds = await backend.measureReembed(profile, rows, set, batch);
      } else {
        run.copyPassSeconds = [];
        for (let p = 0; p < copyPasses; p++) run.copyPassSeconds.push(await backend.measureCopy(profile, set));
        run.copySeconds = median(run.copyPassSeconds);
      }
    }
    const done = run as Run;
    runs.push(done);
    console.log(
      `  ${backend.name} ${set.dims} dims, run ${r + 1}/${repeats}: reembed ${done.reembedSeconds.toFixed(2)} s, ` +
        `COPY ${done.copySeconds.toFixed(2)} s (median of ${copyPasses}) for ${formatNumber(set.ids.length)} rows (verified)`,
    );
  }
  const ratios = runs.map((r) => r.copySeconds / r.reembedSeconds);
  return {
    backend: backend.name,
    dims: set.dims,
    rows: set.ids.length,
    reembedRowsPerSecond: median(runs.map((r) => set.ids.length / r.reembedSeconds)),
    copyRowsPerSecond: median(runs.map((r) => set.ids.length / r.copySeconds)),
    reembedOverCopy: median(ratios),
    ratioRange: [Math.min(...ratios), Math.max(...ratios)],
    runs,
  };
}

interface Encoding {
  dims: number;
  textBytesPerRow: number;
  textMicrosPerRow: number;
  binaryBytesPerRow: number;
  binaryMicrosPerRow: number;
}

/**
 * Client-side cost of turning vectors into what goes on the wire: writeVectors's checks and
 * text literals versus the binary COPY encoding. Explains part of the gap; the server's
 * parsing of those literals is the other part and is inside the measured writes.
 */
function measureEncoding(set: VectorSet, fingerprint: string): Encoding {
  const n = set.ids.length;
  const encodeText = (count: number) => {
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      checkVector({ name: 'bench', dims: set.dims }, set.ids[i]!, set.vectors[i]!);
      bytes += vectorLiteral(set.vectors[i]!).length + set.ids[i]!.length + set.hashes[i]!.length;
    }
    return bytes;
  };
  encodeText(Math.min(n, 1000)); // warm-up, off the clock
  collectGarbage();
  let t = performance.now();
  const textBytes = encodeText(n);
  const textMicros = (performance.now() - t) * 1000;
  collectGarbage();
  t = performance.now();
  const binaryBytes = byteLength([...copyChunks(set, fingerprint)]);
  const binaryMicros = (performance.now() - t) * 1000;
  return {
    dims: set.dims,
    textBytesPerRow: textBytes / n,
    textMicrosPerRow: textMicros / n,
    binaryBytesPerRow: binaryBytes / n,
    binaryMicrosPerRow: binaryMicros / n,
  };
}

async function openBackend(name: (typeof BACKENDS)[number]): Promise<WriteBackend> {
  return name === 'pglite' ? openPgliteBackend() : openPostgresBackend();
}

async function main(): Promise<void> {
  console.log(
    `vector writes: ${sizes.map((s) => `${formatNumber(s.rows)} rows of ${s.dims} dims`).join(', ')}; ` +
      `writeVectors batches of ${batch}; ${repeats} runs per size, paths alternating, ` +
      `${copyPasses} COPYs per run; backends: ${backends.join(', ')}`,
  );
  const sets = sizes.map((s) => makeVectorSet(s.rows, s.dims));
  const results: SizeResult[] = [];
  const servers: Array<{ backend: string; description: string; server: string; pgvector: string }> = [];
  for (const name of backends) {
    const backend = await openBackend(name);
    try {
      servers.push({ backend: backend.name, description: backend.description, ...backend.versions });
      console.log(`${backend.description}: server ${backend.versions.server}, pgvector ${backend.versions.pgvector}`);
      for (const set of sets) results.push(await measureSize(backend, set));
    } finally {
      await backend.close();
    }
  }
  const encoding = sets.map((set) => measureEncoding(set, profileFor(set.dims, 'copy', 0).fingerprint));

  printTable(
    'Servers',
    ['backend', 'server', 'pgvector', 'setup'],
    servers.map((s) => [s.backend, s.server, s.pgvector, s.description]),
  );
  printTable(
    'Vector write throughput (median of runs; ratio = reembed rows/s / binary COPY rows/s, same run)',
    ['backend', 'dims', 'rows', 'reembed rows/s', 'COPY rows/s', 'reembed/COPY', 'ratio min-max'],
    results.map((r) => [
      r.backend,
      String(r.dims),
      formatNumber(r.rows),
      formatNumber(r.reembedRowsPerSecond),
      formatNumber(r.copyRowsPerSecond),
      formatNumber(r.reembedOverCopy, 2),
      `${formatNumber(r.ratioRange[0], 2)}-${formatNumber(r.ratioRange[1], 2)}`,
    ]),
  );
  printTable(
    'Client-side encoding per row (writeVectors: checks + text literals; COPY: binary rows)',
    ['dims', 'text bytes', 'text µs', 'binary bytes', 'binary µs'],
    encoding.map((e) => [
      String(e.dims),
      formatNumber(e.textBytesPerRow),
      formatNumber(e.textMicrosPerRow, 1),
      formatNumber(e.binaryBytesPerRow),
      formatNumber(e.binaryMicrosPerRow, 1),
    ]),
  );
  const file = writeResult('write', {
    config: { backends, batch, repeats, copyPasses, sizes, copyFormat: 'binary' },
    servers,
    results,
    encoding,
  });
  console.log(`\nresult: ${file}`);
}

await main();
