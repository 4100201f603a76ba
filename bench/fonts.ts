/**
 * The font search end to end (issue #13 item 6): p50/p95/p99 of embed + search for a text
 * query against the font story's 4,096-dim multimodal store (hash-image: glyph + text), exact
 * search (4,096 dims is over pgvector's index limits), through the facade's search as an
 * application calls it, on PGlite and PostgreSQL, at 200 fonts (this machine's catalogue,
 * scripts/setup-fonts.sh) and at 20,000 (the 200 glyphs again, with jittered names and tags).
 * Also the backfill's rate over those rows (glyph decoding + features + text hashing + writes).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCatalogue, type FontRecord } from '../src/demo/fonts/catalogue.js';
import { CANDIDATE_PROFILE, FONTS_SOURCE_TABLE, fontsManifest } from '../src/demo/fonts/manifest.js';
import { FONT_QUERIES } from '../src/demo/fonts/queries.js';
import { renderGlyph } from '../src/demo/fonts/render.js';
import { createFontTable, writeFonts, type FontRow } from '../src/demo/fonts/table.js';
import { seededRandom } from '../src/random.js';
import { intFromEnv, listFromEnv } from './lib/env.js';
import { collectGarbage } from './lib/measure.js';
import { createScratchDatabase, startBenchServer, type BenchServer } from './lib/postgres-cluster.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';
import { percentile } from '../src/eval/latency.js';

const BACKENDS = listFromEnv('REEMBED_BENCH_BACKENDS', ['pglite', 'postgres'], ['pglite', 'postgres'] as const);
const SIZES = (process.env.REEMBED_BENCH_FONTS_SIZES ?? '200,20000').split(',').map((s) => Number(s.trim()));
const SEARCHES = intFromEnv('REEMBED_BENCH_FONTS_SEARCHES', 100);
const WARMUP = 10;

const JITTER = ['web', 'print', 'poster', 'caption', 'body', 'ui', 'headline', 'book', 'screen', 'label'];

/** `size` rows: the catalogue's fonts, then copies of them with a number and a jittered tag. */
function rowsOf(fonts: FontRecord[], glyphs: Buffer[], size: number): FontRow[] {
  const random = seededRandom(7);
  return Array.from({ length: size }, (_, i) => {
    const k = Math.floor(i / fonts.length);
    const font = fonts[i % fonts.length]!;
    if (k === 0) return { font, glyph: glyphs[i]! };
    const extra = JITTER[Math.floor(random() * JITTER.length)]!;
    return {
      font: { ...font, id: `${font.id}-${k}`, name: `${font.name} ${k}`, tags: `${font.tags} ${extra}` },
      glyph: glyphs[i % fonts.length]!,
    };
  });
}

interface Point {
  backend: string;
  fonts: number;
  backfillSeconds: number;
  rowsPerSecond: number;
  searches: number;
  totalMs: { p50: number; p95: number; p99: number };
  embedMs: { p50: number; p95: number };
  searchMs: { p50: number; p95: number };
}

async function measure(backend: string, target: string, rows: FontRow[]): Promise<Point> {
  // Loaded here, after main() copied package.json beside the compiled src/ (src/version.ts reads it).
  const { open } = await import('../src/reembed.js');
  const manifest = { ...fontsManifest(), environments: { development: { profile: CANDIDATE_PROFILE } } };
  const reembed = await open({
    config: manifest,
    db: target,
    env: { REEMBED_ENV: 'development' },
    router: { lazy: true },
  });
  try {
    await reembed.schema();
    await createFontTable(reembed.db, FONTS_SOURCE_TABLE);
    await writeFonts(reembed.db, FONTS_SOURCE_TABLE, rows);
    const run = await reembed.backfill.run(CANDIDATE_PROFILE, { workers: 1 });
    if (run.coverage.ratio !== 1) throw new Error(`backfill left coverage at ${run.coverage.ratio}`);
    const queries = FONT_QUERIES.map((q) => q.text);
    for (let i = 0; i < WARMUP; i++) await reembed.search(queries[i % queries.length]!, { k: 10 });
    collectGarbage();
    const total: number[] = [];
    const embed: number[] = [];
    const search: number[] = [];
    for (let i = 0; i < SEARCHES; i++) {
      // A new text each time, so no query-vector cache could answer (the profile has none anyway).
      const response = await reembed.search(`${queries[i % queries.length]} ${i}`, { k: 10 });
      if (response.profile !== CANDIDATE_PROFILE) throw new Error(`served by ${response.profile}`);
      total.push(response.latencyMs.total);
      embed.push(response.latencyMs.embed);
      search.push(response.latencyMs.search);
    }
    for (const xs of [total, embed, search]) xs.sort((a, b) => a - b);
    return {
      backend,
      fonts: rows.length,
      backfillSeconds: run.seconds,
      rowsPerSecond: rows.length / run.seconds,
      searches: SEARCHES,
      totalMs: { p50: percentile(total, 50), p95: percentile(total, 95), p99: percentile(total, 99) },
      embedMs: { p50: percentile(embed, 50), p95: percentile(embed, 95) },
      searchMs: { p50: percentile(search, 50), p95: percentile(search, 95) },
    };
  } finally {
    await reembed.close();
  }
}

async function main(): Promise<void> {
  // src/version.ts reads the package.json one level above src/: the bench-compiled copy needs one too.
  const here = dirname(fileURLToPath(import.meta.url));
  copyFileSync(resolve(process.cwd(), 'package.json'), resolve(here, '..', 'package.json'));
  const fonts = buildCatalogue();
  const glyphs = fonts.map((f) => renderGlyph(f.file));
  const points: Point[] = [];
  let server: BenchServer | null = null;
  try {
    for (const backend of BACKENDS) {
      for (const size of SIZES) {
        const rows = rowsOf(fonts, glyphs, size);
        if (backend === 'pglite') {
          const dir = mkdtempSync(join(tmpdir(), 'reembed-bench-fonts-'));
          try {
            points.push(await measure(backend, join(dir, 'db'), rows));
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        } else {
          server ??= await startBenchServer();
          const scratch = await createScratchDatabase(server.adminUrl);
          try {
            points.push(await measure(backend, scratch.url, rows));
          } finally {
            await scratch.drop();
          }
        }
        const p = points.at(-1)!;
        console.log(
          `${backend} ${formatNumber(size)} fonts: backfill ${p.rowsPerSecond.toFixed(0)} rows/s, embed + search p95 ${p.totalMs.p95.toFixed(1)} ms`,
        );
      }
    }
  } finally {
    server?.stop();
  }
  printTable(
    `Font search, text query → 4,096-dim hash-image store (exact search, k=10), ${SEARCHES} searches per point (ms)`,
    ['backend', 'fonts', 'backfill rows/s', 'total p50', 'total p95', 'total p99', 'embed p95', 'search p95'],
    points.map((p) => [
      p.backend,
      formatNumber(p.fonts),
      p.rowsPerSecond.toFixed(0),
      p.totalMs.p50.toFixed(1),
      p.totalMs.p95.toFixed(1),
      p.totalMs.p99.toFixed(1),
      p.embedMs.p95.toFixed(2),
      p.searchMs.p95.toFixed(1),
    ]),
  );
  const load = (await import('node:os')).loadavg()[0]!;
  console.log(`\nload average (1 min) at the end: ${load.toFixed(2)}`);
  console.log(`results: ${writeResult('fonts', { points, searches: SEARCHES, loadAverage1m: load })}`);
}

await main();
