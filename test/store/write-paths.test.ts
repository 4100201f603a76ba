/**
 * writeVectors' two paths, on both backends: small batches as text literals in one statement,
 * larger ones staged by binary COPY in a transaction. Both must store the same bits and keep
 * the same semantics (row counts, upsert, validation before sending, all-or-nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { countStored } from '../../src/store/coverage.js';
import { ensureStore, storeLayout } from '../../src/store/store.js';
import { InvalidVectorError, stagesByCopy, writeVectors, type StoredVector } from '../../src/store/write.js';
import { AWKWARD_IDS, vectorBytes } from '../db/binary.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const manifest = buildManifest(
  {
    profiles: {
      paths: { provider: 'hash', dims: 64 },
      wide: { provider: 'hash', dims: 3000 },
    },
  },
  null,
);
const paths = getProfile(manifest, 'paths');
const wide = getProfile(manifest, 'wide');

function randomVector(dims: number, seed: number): Float32Array {
  let a = seed + 1;
  return Float32Array.from({ length: dims }, () => {
    a = (a * 16807) % 2147483647;
    return (a / 2147483647) * 2 - 1;
  });
}

function batch(ids: string[], dims: number, hash = 'h'): StoredVector[] {
  return ids.map((docId, i) => ({ docId, vector: randomVector(dims, i), contentHash: `${hash}-${i}` }));
}

describe.each(BACKENDS)('writeVectors paths on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await ensureStore(db, paths);
    await ensureStore(db, wide);
  });
  afterAll(() => db.close());

  async function clear(profile: Profile) {
    await db.exec(`TRUNCATE ${storeLayout(profile).table}`);
  }

  async function stored(profile: Profile) {
    const { rows } = await db.query<{ doc_id: string; b: Uint8Array; content_hash: string; fingerprint: string }>(
      `SELECT doc_id, ${storeLayout(profile).columnType}_send(embedding) AS b, content_hash, fingerprint
       FROM ${storeLayout(profile).table}`,
    );
    return new Map(rows.map((r) => [r.doc_id, { ...r, b: Buffer.from(r.b) }]));
  }

  // One text batch and one COPY batch, whatever the thresholds are.
  const small = 1;
  const large = 100;
  it('covers both paths', () => {
    expect(stagesByCopy(db, small, paths.dims)).toBe(false);
    expect(stagesByCopy(db, large, paths.dims)).toBe(true);
  });

  for (const [path, size] of [
    ['text', small],
    ['COPY', large],
  ] as const) {
    it(`${path} path: stores every vector bit for bit, with its hash and fingerprint`, async () => {
      await clear(paths);
      const ids = Array.from({ length: size }, (_, i) => `${AWKWARD_IDS[i % AWKWARD_IDS.length]}#${i}`);
      const rows = batch(ids, paths.dims);
      rows[0]!.vector[0] = -0;
      rows[0]!.vector[1] = 2 ** -149;
      expect(await writeVectors(db, paths, rows)).toBe(size);
      const back = await stored(paths);
      expect(back.size).toBe(size);
      for (const r of rows) {
        const row = back.get(r.docId)!;
        expect(row.b).toEqual(vectorBytes(r.vector));
        expect(row.content_hash).toBe(r.contentHash);
        expect(row.fingerprint).toBe(paths.fingerprint);
      }
    });

    it(`${path} path: replaces existing rows and counts them`, async () => {
      await clear(paths);
      const ids = Array.from({ length: size }, (_, i) => `doc-${i}`);
      await writeVectors(db, paths, batch(ids, paths.dims, 'old'));
      const again = batch(ids, paths.dims, 'new').map((r) => ({ ...r, vector: randomVector(paths.dims, 7) }));
      expect(await writeVectors(db, paths, again)).toBe(size);
      const back = await stored(paths);
      expect(back.size).toBe(size);
      expect(back.get('doc-0')).toMatchObject({ content_hash: 'new-0', b: vectorBytes(randomVector(paths.dims, 7)) });
    });

    it(`${path} path: a batch the database refuses leaves nothing written, and the next one is clean`, async () => {
      await clear(paths);
      const ids = Array.from({ length: size + 1 }, (_, i) => `dup-${i}`);
      ids[ids.length - 1] = ids[0]!; // the same id twice: ON CONFLICT refuses the statement
      await expect(writeVectors(db, paths, batch(ids, paths.dims))).rejects.toThrow(/affect row a second time/);
      expect(await countStored(db, paths)).toBe(0);
      const next = batch(
        Array.from({ length: size }, (_, i) => `next-${i}`),
        paths.dims,
      );
      expect(await writeVectors(db, paths, next)).toBe(size);
      expect([...(await stored(paths)).keys()].sort()).toEqual(next.map((r) => r.docId).sort());
    });

    it(`${path} path: checks every vector before sending any`, async () => {
      await clear(paths);
      const rows = batch(
        Array.from({ length: size + 1 }, (_, i) => `check-${i}`),
        paths.dims,
      );
      rows[rows.length - 1]!.vector[3] = Number.NaN;
      await expect(writeVectors(db, paths, rows)).rejects.toBeInstanceOf(InvalidVectorError);
      expect(await countStored(db, paths)).toBe(0);
    });
  }

  it('halfvec profiles store the same halves on every path as a server-side cast of the exact float4s', async () => {
    await clear(wide);
    const sizes = [1, 2, 20];
    expect(sizes.some((n) => stagesByCopy(db, n, wide.dims))).toBe(true);
    let offset = 0;
    for (const n of sizes) {
      const rows = batch(
        Array.from({ length: n }, (_, i) => `w-${offset + i}`),
        wide.dims,
      );
      offset += n;
      expect(await writeVectors(db, wide, rows)).toBe(n);
      for (const r of [rows[0]!, rows[n - 1]!]) {
        const { rows: same } = await db.query<{ same: boolean }>(
          `SELECT halfvec_send(embedding) = halfvec_send($2::vector::halfvec) AS same
           FROM ${storeLayout(wide).table} WHERE doc_id = $1`,
          [r.docId, `[${Array.from(r.vector).join(',')}]`],
        );
        expect(same[0]?.same).toBe(true);
      }
    }
    expect(await countStored(db, wide)).toBe(offset);
  });
});
