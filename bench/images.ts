/**
 * Benchmark `images`: images embedded per second by the built-in `hash-image` provider
 * (decode + appearance features + text hashing), at 256×64 PNG glyph images like the font
 * story's, through createEmbedder (the resilience layer every caller pays for), at 1,024 and
 * 4,096 dims. Beside it, the two parts alone: the image check a backfill does before embedding
 * (source/image.ts: sniff + decode) and the features of embedders/image-features.ts.
 */
import { performance } from 'node:perf_hooks';
import { createCanvas } from '@napi-rs/canvas';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import { createEmbedder } from '../src/embedders/create.js';
import { imageFeatures } from '../src/embedders/image-features.js';
import { loadImageInput } from '../src/source/image.js';
import { intFromEnv } from './lib/env.js';
import { collectGarbage, median } from './lib/measure.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const images = intFromEnv('REEMBED_BENCH_IMAGES', 400);
const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 5);
const DIMS = [1024, 4096] as const;
const FONTS = ['38px serif', 'bold 38px sans-serif', 'italic 38px serif', '38px monospace', 'bold italic 36px serif'];
const WIDTH = 256;
const HEIGHT = 64;

function glyphs(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const canvas = createCanvas(WIDTH, HEIGHT);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, WIDTH, HEIGHT);
    ctx.fillStyle = '#000';
    ctx.font = FONTS[i % FONTS.length]!;
    ctx.textBaseline = 'middle';
    ctx.fillText(`Aa Bb Gg ${String(i).padStart(4, '0')}`, 4, HEIGHT / 2);
    return canvas.toBuffer('image/png');
  });
}

async function timed(fn: () => Promise<void>): Promise<number[]> {
  await fn(); // untimed: loads the native module, warms the JIT
  const seconds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    collectGarbage();
    const t0 = performance.now();
    await fn();
    seconds.push((performance.now() - t0) / 1000);
  }
  return seconds;
}

async function main(): Promise<void> {
  const pngs = glyphs(images);
  const bytes = pngs.reduce((n, p) => n + p.length, 0);
  console.log(
    `hash-image: ${images} PNG glyph images of ${WIDTH}x${HEIGHT} (${formatNumber(bytes / images)} bytes each on average), ` +
      `${repeats} timed runs after an untimed one`,
  );
  const rows: { what: string; dims: number | null; perSecond: number; range: [number, number] }[] = [];
  const record = (what: string, dims: number | null, seconds: number[]) => {
    const rates = seconds.map((s) => images / s);
    rows.push({ what, dims, perSecond: median(rates), range: [Math.min(...rates), Math.max(...rates)] });
  };

  const options = { max_bytes: 10 * 1024 * 1024, fetch_timeout_ms: 10_000, max_pixels: 40_000_000 };
  record(
    'image check (sniff + decode)',
    null,
    await timed(async () => {
      for (const p of pngs) await loadImageInput(p, options);
    }),
  );
  record(
    'appearance features (decode + 288 features)',
    null,
    await timed(async () => {
      for (const p of pngs) await imageFeatures(p);
    }),
  );
  for (const dims of DIMS) {
    const manifest = buildManifest({ profiles: { glyphs: { provider: 'hash-image', dims } } }, null);
    const embedder = createEmbedder(getProfile(manifest, 'glyphs'));
    const texts = pngs.map((_, i) => `Font ${i} ${FONTS[i % FONTS.length]}`);
    const inputs = pngs.map((p) => ({ bytes: p, mime: 'image/png' }));
    record(
      'hash-image embedder (image + text)',
      dims,
      await timed(async () => {
        const result = await embedder.embed(texts, 'document', { images: inputs });
        if (result.vectors.length !== images) throw new Error('wrong number of vectors');
      }),
    );
  }

  printTable(
    'Built-in image embedding (median of runs, one process, images/s)',
    ['what', 'dims', 'images/s', 'min-max'],
    rows.map((r) => [
      r.what,
      r.dims === null ? '-' : String(r.dims),
      formatNumber(r.perSecond),
      `${formatNumber(r.range[0])}-${formatNumber(r.range[1])}`,
    ]),
  );
  const file = writeResult('images', { config: { images, repeats, width: WIDTH, height: HEIGHT, bytes }, rows });
  console.log(`\nresult: ${file}`);
}

await main();
