/**
 * Appearance features of an image for the built-in `hash-image` provider: no model, only what
 * the pixels look like. The image is decoded with @napi-rs/canvas (prebuilt binaries, no
 * system libraries), composited over white (transparent glyphs read as ink on paper) and
 * stretched to 64×64 grayscale. Two blocks, each L2-normalized on its own:
 *
 * - a 16×16 grid of mean ink (4×4 pixel cells), minus its mean, so brightness shifts cancel:
 *   256 values, the layout of the image;
 * - an edge-orientation histogram: Sobel gradients, 8 unsigned orientations (0-180°) in each of
 *   the 4 quadrants, weighted by gradient magnitude: 32 values, the strokes' directions
 *   (upright or slanted, round or straight).
 *
 * STABILITY: as for `hash`, what decides a vector must not change without a new
 * PREPROCESSING_VERSION; the canvas library's resampling is pinned with its exact version.
 */
export const GRID = 16;
const CELL = 4;
const SIZE = GRID * CELL; // 64
const ORIENTATIONS = 8;
const REGIONS = 2; // 2×2 quadrants
export const IMAGE_FEATURES = GRID * GRID + ORIENTATIONS * REGIONS * REGIONS; // 288

/** The 288 appearance features of an image (unit length, or all zero for a blank image). */
export async function imageFeatures(bytes: Uint8Array): Promise<Float64Array> {
  const { createCanvas, loadImage } = await import('@napi-rs/canvas');
  const image = await loadImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const canvas = createCanvas(SIZE, SIZE);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.drawImage(image, 0, 0, SIZE, SIZE);
  const rgba = ctx.getImageData(0, 0, SIZE, SIZE).data;
  const ink = new Float64Array(SIZE * SIZE);
  for (let p = 0; p < ink.length; p++) {
    // Rec. 601 luma; ink is 1 on black, 0 on white.
    ink[p] = 1 - (0.299 * rgba[p * 4]! + 0.587 * rgba[p * 4 + 1]! + 0.114 * rgba[p * 4 + 2]!) / 255;
  }
  const out = new Float64Array(IMAGE_FEATURES);
  grid(ink, out);
  edges(ink, out);
  unit(out, 0, GRID * GRID);
  unit(out, GRID * GRID, IMAGE_FEATURES);
  let norm = 0;
  for (const v of out) norm += v * v;
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= Math.sqrt(norm);
  return out;
}

function grid(ink: Float64Array, out: Float64Array): void {
  let mean = 0;
  for (let gy = 0; gy < GRID; gy++) {
    for (let gx = 0; gx < GRID; gx++) {
      let sum = 0;
      for (let y = 0; y < CELL; y++) for (let x = 0; x < CELL; x++) sum += ink[(gy * CELL + y) * SIZE + gx * CELL + x]!;
      out[gy * GRID + gx] = sum / (CELL * CELL);
      mean += sum / (CELL * CELL);
    }
  }
  mean /= GRID * GRID;
  for (let i = 0; i < GRID * GRID; i++) out[i]! -= mean;
}

function edges(ink: Float64Array, out: Float64Array): void {
  const at = (x: number, y: number) => ink[y * SIZE + x]!;
  const half = SIZE / REGIONS;
  for (let y = 1; y < SIZE - 1; y++) {
    for (let x = 1; x < SIZE - 1; x++) {
      const gx =
        at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy =
        at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      const magnitude = Math.hypot(gx, gy);
      if (magnitude < 1e-9) continue;
      let angle = Math.atan2(gy, gx); // (-π, π]; an edge's orientation is modulo π
      if (angle < 0) angle += Math.PI;
      const bin = Math.min(ORIENTATIONS - 1, Math.floor((angle / Math.PI) * ORIENTATIONS));
      const region = Math.floor(y / half) * REGIONS + Math.floor(x / half);
      out[GRID * GRID + region * ORIENTATIONS + bin]! += magnitude;
    }
  }
}

/** Scales out[from, to) to unit length (a zero block stays zero). */
function unit(out: Float64Array, from: number, to: number): void {
  let norm = 0;
  for (let i = from; i < to; i++) norm += out[i]! * out[i]!;
  if (norm === 0) return;
  const scale = 1 / Math.sqrt(norm);
  for (let i = from; i < to; i++) out[i]! *= scale;
}
