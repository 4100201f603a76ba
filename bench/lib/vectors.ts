import { createHash } from 'node:crypto';
import type { StoredVector } from '../../src/store/write.js';
import { seededRandom } from '../../src/random.js';

/** What a write benchmark writes: the same rows go through every write path. */
export interface VectorSet {
  dims: number;
  ids: string[];
  vectors: Float32Array[];
  /** Stand-ins for content hashes: sha256 hex, the same shape as real ones. */
  hashes: string[];
}

/** Random unit vectors (Gaussian directions), like a real embedding model's normalized output. */
export function makeVectorSet(rows: number, dims: number, seed = 1): VectorSet {
  const random = seededRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const set: VectorSet = { dims, ids: [], vectors: [], hashes: [] };
  for (let i = 0; i < rows; i++) {
    const v = new Float32Array(dims);
    let norm = 0;
    for (let d = 0; d < dims; d++) {
      v[d] = gaussian();
      norm += v[d]! * v[d]!;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let d = 0; d < dims; d++) v[d]! *= scale;
    const id = `doc-${String(i).padStart(7, '0')}`;
    set.ids.push(id);
    set.vectors.push(v);
    set.hashes.push(createHash('sha256').update(`content of ${id}`).digest('hex'));
  }
  return set;
}

export function storedVectors(set: VectorSet): StoredVector[] {
  return set.ids.map((docId, i) => ({ docId, vector: set.vectors[i]!, contentHash: set.hashes[i]! }));
}

/** Total bytes of a buffer list (for the payload-size figures). */
export function byteLength(chunks: Buffer[]): number {
  return chunks.reduce((n, c) => n + c.length, 0);
}
