import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyHeader, copyTrailer, encodeCopy, encodeCopyRows } from '../../src/db/copy-binary.js';
import type { Database } from '../../src/db/database.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { AWKWARD_IDS, vectorBytes } from './binary.js';

const SPECIAL = Float32Array.from([
  1,
  -0,
  0,
  2 ** -149, // the smallest subnormal
  -(2 ** -126 - 2 ** -149), // the largest subnormal, negative
  2 ** -126, // the smallest normal
  3.4028234663852886e38, // the largest float4
  Math.fround(0.1),
  -Math.fround(1 / 3),
]);

describe('binary COPY encoding', () => {
  it('writes the header, big-endian fields, NULL as -1 and the trailer', () => {
    const payload = encodeCopy([['ab', Float32Array.from([1, -2]), null]]);
    const header = copyHeader();
    expect(header.toString('latin1', 0, 11)).toBe('PGCOPY\n\xff\r\n\0');
    expect(payload.subarray(0, header.length)).toEqual(header);
    const row = payload.subarray(header.length, payload.length - 2);
    expect(row).toEqual(
      Buffer.concat([
        Buffer.from([0, 3]), // three fields
        Buffer.from([0, 0, 0, 2]),
        Buffer.from('ab'),
        Buffer.from([0, 0, 0, 12]),
        vectorBytes(Float32Array.from([1, -2])),
        Buffer.from([0xff, 0xff, 0xff, 0xff]),
      ]),
    );
    expect(payload.subarray(payload.length - 2)).toEqual(copyTrailer());
    expect(encodeCopyRows([['ab', Float32Array.from([1, -2]), null]])).toEqual(row);
  });

  it('encodes vectors that are views into a larger buffer', () => {
    const backing = new Float32Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    const row = encodeCopyRows([[view]]);
    expect(row.subarray(2 + 4)).toEqual(vectorBytes(Float32Array.from([1, 2, 3])));
    expect(backing[0]).toBe(9); // the caller's floats are not byte-swapped in place
  });

  it('refuses text with NUL and vectors over pgvector’s limit', () => {
    expect(() => encodeCopy([['a\u0000b']])).toThrow(/NUL/);
    expect(() => encodeCopy([[new Float32Array(16_001)]])).toThrow(/16001 dimensions/);
  });
});

describe.each(BACKENDS)('copyFrom on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend, { migrate: false });
    await db.exec(`CREATE EXTENSION IF NOT EXISTS vector;
      CREATE TABLE copy_t (id text PRIMARY KEY, v vector(${SPECIAL.length}), note text)`);
  });
  afterAll(() => db.close());

  const count = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_t')).rows[0]!.n;

  it('stores any text and float4 vectors bit for bit, and NULLs', async () => {
    await db.exec('TRUNCATE copy_t');
    const rows = AWKWARD_IDS.map((id, i) => [id, SPECIAL, i % 2 ? null : `note ${id}`] as const);
    expect(await db.copyFrom('copy_t (id, v, note)', encodeCopy(rows))).toBe(rows.length);
    const { rows: back } = await db.query<{ id: string; v: Uint8Array; note: string | null }>(
      'SELECT id, vector_send(v) AS v, note FROM copy_t',
    );
    expect(new Set(back.map((r) => r.id))).toEqual(new Set(AWKWARD_IDS));
    for (const r of back) {
      expect(Buffer.from(r.v)).toEqual(vectorBytes(SPECIAL));
      const i = AWKWARD_IDS.indexOf(r.id);
      expect(r.note).toBe(i % 2 ? null : `note ${r.id}`);
    }
  });

  it('takes a payload in chunks', async () => {
    await db.exec('TRUNCATE copy_t');
    const chunks = [copyHeader(), encodeCopyRows([['a', SPECIAL, null]]), encodeCopyRows([['b', SPECIAL, 'x']])];
    expect(await db.copyFrom('copy_t', [...chunks, copyTrailer()])).toBe(2);
    expect(await count()).toBe(2);
  });

  it('is part of the transaction it runs in', async () => {
    await db.exec('TRUNCATE copy_t');
    await expect(
      db.transaction(async (tx) => {
        expect(await tx.copyFrom('copy_t (id, v)', encodeCopy([['in-tx', SPECIAL]]))).toBe(1);
        expect((await tx.query('SELECT 1 FROM copy_t')).rows.length).toBe(1);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await count()).toBe(0);
  });

  it('reports a COPY the server refuses, takes nothing of it, and the connection keeps working', async () => {
    await db.exec('TRUNCATE copy_t');
    const wrongDims = encodeCopy([
      ['ok', SPECIAL],
      ['bad', Float32Array.from([1, 2])],
    ]);
    await expect(db.copyFrom('copy_t (id, v)', wrongDims)).rejects.toThrow(/dimensions/);
    // In a transaction: the refused COPY takes the transaction's earlier writes with it.
    await expect(
      db.transaction(async (tx) => {
        await tx.copyFrom('copy_t (id, v)', encodeCopy([['first', SPECIAL]]));
        await tx.copyFrom('copy_t (id, v)', wrongDims);
      }),
    ).rejects.toThrow(/dimensions/);
    expect(await count()).toBe(0);
    // The same pooled connections serve the next COPY and statement normally.
    for (let i = 0; i < 3; i++) {
      await db.transaction(async (tx) => {
        expect(await tx.copyFrom('copy_t (id, v)', encodeCopy([[`after-${i}`, SPECIAL]]))).toBe(1);
      });
    }
    expect(await count()).toBe(3);
  });
});
