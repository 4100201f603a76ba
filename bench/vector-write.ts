/**
 * Benchmark `write`: rows/s of reembed's vector write paths, writeVectors and the backfill's
 * guarded writeIfCurrent (in batches, into a store made by ensureStore), against binary COPY of
 * the same rows into the same kind of store table, on PGlite and on PostgreSQL, at 384 and 1536
 * dims. COPY is the ceiling for bulk loading; the ratios path/COPY, measured in the same run
 * with the paths taking turns going first, are the figures to compare across machines and the
 * ones backfill targets are set against.
 */
import { performance } from 'node:perf_hooks';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import type { Profile } from '../src/config/profile.js';
import { encodeCopy } from '../src/db/copy-binary.js';
import { vectorLiteral } from '../src/db/sql.js';
import { checkVector } from '../src/store/write.js';
import { openPgliteBackend } from './lib/backend-pglite.js';
import { openPostgresBackend } from './lib/backend-postgres.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { guardedProfile } from './lib/guarded-source.js';
import { collectGarbage, median } from './lib/measure.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { makeVectorSet, storedVectors, type VectorSet } from './lib/vectors.js';
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

/**
 * `copy` is the ceiling the ratios are defined against: the whole set in one binary COPY.
 * `copyBatches` is binary COPY of the same batches the write paths get, one autocommit COPY
 * each: it pays a commit (and its WAL flush) per batch as they do, so path/copyBatches shows
 * what the path itself costs apart from committing batch by batch.
 */
const PATHS = ['vectors', 'guarded', 'copy', 'copyBatches'] as const;
type Path = (typeof PATHS)[number];
const PATH_LABELS: Record<Path, string> = {
  vectors: 'writeVectors',
  guarded: 'writeIfCurrent',
  copy: 'COPY',
  copyBatches: 'COPY per batch',
};

function profileFor(dims: number, path: Path, run: number): Profile {
  const name = `bench_${dims}_${path.toLowerCase()}_${run}`;
  if (path === 'guarded') return guardedProfile(name, dims);
  return getProfile(buildManifest({ profiles: { [name]: { provider: 'hash', dims } } }, null), name);
}

type Run = Record<Path, number> & {
  /** The run's COPY passes; `copy` is their median. */
  copyPassSeconds: number[];
};

interface PathResult {
  rowsPerSecond: number;
  /** rows/s ÷ COPY rows/s, median over runs (each run's figures side by side). */
  overCopy: number;
  ratioRange: [number, number];
  /** rows/s ÷ batched COPY rows/s, median over runs. */
  overCopyBatches: number;
}

interface SizeResult {
  backend: string;
  dims: number;
  rows: number;
  copyRowsPerSecond: number;
  copyBatchesRowsPerSecond: number;
  vectors: PathResult;
  guarded: PathResult;
  runs: Run[];
}

/** Rotates which path goes first, so none always gets the warmer (or noisier) slot. */
async function measureSize(backend: WriteBackend, set: VectorSet): Promise<SizeResult> {
  const rows = storedVectors(set);
  const runs: Run[] = [];
  for (let r = 0; r < repeats; r++) {
    const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!);
    const run: Partial<Run> = {};
    for (const path of order) {
      const profile = profileFor(set.dims, path, r);
      if (path === 'vectors') {
        run.vectors = await backend.measureReembed(profile, rows, set, batch);
      } else if (path === 'guarded') {
        run.guarded = await backend.measureGuarded(profile, set, batch);
      } else if (path === 'copyBatches') {
        run.copyBatches = await backend.measureCopy(profile, set, batch);
      } else {
        run.copyPassSeconds = [];
        for (let p = 0; p < copyPasses; p++) run.copyPassSeconds.push(await backend.measureCopy(profile, set, null));
        run.copy = median(run.copyPassSeconds);
      }
    }
    const done = run as Run;
    runs.push(done);
    console.log(
      `  ${backend.name} ${set.dims} dims, run ${r + 1}/${repeats}: writeVectors ${done.vectors.toFixed(2)} s, ` +
        `writeIfCurrent ${done.guarded.toFixed(2)} s, COPY ${done.copy.toFixed(2)} s (median of ${copyPasses}), ` +
        `COPY per batch ${done.copyBatches.toFixed(2)} s for ${formatNumber(set.ids.length)} rows (verified)`,
    );
  }
  const n = set.ids.length;
  const pathResult = (path: 'vectors' | 'guarded'): PathResult => {
    const ratios = runs.map((r) => r.copy / r[path]);
    return {
      rowsPerSecond: median(runs.map((r) => n / r[path])),
      overCopy: median(ratios),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      overCopyBatches: median(runs.map((r) => r.copyBatches / r[path])),
    };
  };
  return {
    backend: backend.name,
    dims: set.dims,
    rows: n,
    copyRowsPerSecond: median(runs.map((r) => n / r.copy)),
    copyBatchesRowsPerSecond: median(runs.map((r) => n / r.copyBatches)),
    vectors: pathResult('vectors'),
    guarded: pathResult('guarded'),
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
 * Client-side cost of turning vectors into what goes on the wire: the checks and text literals
 * of the small-batch text path versus the binary rows the staged path COPYs (id, vector,
 * content hash; the checks are the same on both paths and counted on the text side only).
 */
function measureEncoding(set: VectorSet): Encoding {
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
  let binaryBytes = 0;
  for (let i = 0; i < n; i += batch) {
    const rows: Array<[string, Float32Array, string]> = [];
    for (let j = i; j < Math.min(n, i + batch); j++) rows.push([set.ids[j]!, set.vectors[j]!, set.hashes[j]!]);
    binaryBytes += encodeCopy(rows).length;
  }
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
      `writeVectors and writeIfCurrent in batches of ${batch}; ${repeats} runs per size, paths rotating, ` +
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
  const encoding = sets.map((set) => measureEncoding(set));

  printTable(
    'Servers',
    ['backend', 'server', 'pgvector', 'setup'],
    servers.map((s) => [s.backend, s.server, s.pgvector, s.description]),
  );
  printTable(
    'Vector write throughput (median of runs; ratio = path rows/s / binary COPY rows/s, same run)',
    [
      'backend',
      'dims',
      'rows',
      'path',
      'rows/s',
      'COPY rows/s',
      'path/COPY',
      'ratio min-max',
      'COPY per batch rows/s',
      'path/COPY per batch',
    ],
    results.flatMap((r) =>
      (['vectors', 'guarded'] as const).map((path) => [
        r.backend,
        String(r.dims),
        formatNumber(r.rows),
        PATH_LABELS[path],
        formatNumber(r[path].rowsPerSecond),
        formatNumber(r.copyRowsPerSecond),
        formatNumber(r[path].overCopy, 2),
        `${formatNumber(r[path].ratioRange[0], 2)}-${formatNumber(r[path].ratioRange[1], 2)}`,
        formatNumber(r.copyBatchesRowsPerSecond),
        formatNumber(r[path].overCopyBatches, 2),
      ]),
    ),
  );
  printTable(
    `Client-side encoding per row (text path: checks + literals; staged path: binary rows, batches of ${batch})`,
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
    config: { backends, batch, repeats, copyPasses, sizes, copyFormat: 'binary', paths: PATHS },
    servers,
    results,
    encoding,
  });
  console.log(`\nresult: ${file}`);
}

await main();
