import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { decodeVectorHex, float4Literal, parseVector, vectorHexSql, vectorLiteral } from '../../src/db/sql.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { seededRandom } from '../../src/random.js';

const bits = new Uint32Array(1);
const float = new Float32Array(bits.buffer);

/** A float4 from its bit pattern. */
function fromBits(pattern: number): number {
  bits[0] = pattern >>> 0;
  return float[0]!;
}

/** Random finite float4s over every exponent, subnormals included (uniform over bit patterns). */
function randomFloats(count: number, seed: number): number[] {
  const random = seededRandom(seed);
  const next = () => Math.floor(random() * 4294967296);
  const out: number[] = [];
  while (out.length < count) {
    const x = fromBits(next());
    if (Number.isFinite(x)) out.push(x);
  }
  return out;
}

/** x as an exact fraction num / 2^shift (x finite and non-zero). */
function exactBinary(x: number): { num: bigint; shift: bigint } {
  let shift = 0n;
  let m = Math.abs(x);
  while (!Number.isInteger(m)) {
    m *= 2; // exact: doubling never rounds
    shift++;
  }
  return { num: BigInt(m), shift };
}

/**
 * What a correctly rounding strtof (the server's parser) makes of a decimal string, decided in
 * exact rational arithmetic: the float4 nearest to it, ties to even. It checks the candidate
 * `expected` against the midpoints to its two neighbours rather than searching.
 */
function strtofIs(text: string, expected: number): boolean {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(text);
  if (!match) return false;
  const [, sign, whole, fraction = '', exp = '0'] = match;
  const negative = sign === '-';
  if (negative !== (expected < 0 || Object.is(expected, -0))) return false;
  const digits = BigInt(whole! + fraction);
  const e = Number(exp) - fraction.length;
  // |value| = digits * 10^e = vNum / vDen
  const vNum = e >= 0 ? digits * 10n ** BigInt(e) : digits;
  const vDen = e >= 0 ? 1n : 10n ** BigInt(-e);
  const target = Math.abs(expected);
  if (target === 0) return vNum === 0n;
  bits[0] = 0;
  float[0] = target;
  const pattern = bits[0]!;
  const even = (pattern & 1) === 0;
  const below = fromBits(pattern - 1); // 0 below the smallest subnormal
  const above = fromBits(pattern + 1); // Infinity above the largest float4
  // Midpoints are exact doubles; above the largest float4 the overflow threshold plays its part.
  const low = exactBinary((below + target) / 2);
  const high = exactBinary(Number.isFinite(above) ? (target + above) / 2 : target + (target - below) / 2);
  // value < a, or value <= a
  const under = (a: { num: bigint; shift: bigint }, orEqual: boolean) => {
    const left = vNum * 2n ** a.shift;
    const right = a.num * vDen;
    return orEqual ? left <= right : left < right;
  };
  // Ties go to the even pattern: a midpoint belongs to `expected` only when it is even.
  const aboveLow = even ? !under(low, false) : !under(low, true);
  const belowHigh = under(high, even);
  return aboveLow && belowHigh;
}

describe('float4 literals', () => {
  it('prints special values exactly and compactly', () => {
    expect(float4Literal(0)).toBe('0');
    expect(float4Literal(-0)).toBe('-0');
    expect(float4Literal(1)).toBe('1');
    expect(float4Literal(-2.5)).toBe('-2.5');
    expect(float4Literal(100)).toBe('100');
    expect(float4Literal(123456789)).toBe('123456792'); // the float4 nearest, all its digits
    expect(float4Literal(0.1)).toBe('0.100000001');
    expect(float4Literal(2 ** -149)).toBe('1.40129846e-45');
    expect(float4Literal(3.4028234663852886e38)).toBe('3.40282347e+38');
    expect(vectorLiteral([1, -0, 0.5])).toBe('[1,-0,0.5]');
    expect(vectorLiteral(new Float32Array(0))).toBe('[]');
  });

  it('has an oracle that tells a neighbouring float4 apart', () => {
    for (const x of randomFloats(2000, 5)) {
      bits[0] = 0;
      float[0] = x;
      const neighbour = fromBits(bits[0]! + 1);
      if (!Number.isFinite(neighbour)) continue;
      expect(strtofIs(float4Literal(x), x)).toBe(true);
      expect(strtofIs(float4Literal(x), neighbour)).toBe(false);
      expect(strtofIs(float4Literal(neighbour), x)).toBe(false);
    }
    // 2^-150 is the midpoint between 0 and the smallest subnormal: it rounds to 0 (even).
    expect(
      strtofIs(
        '7.00649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015625e-46',
        2 ** -149,
      ),
    ).toBe(false);
  });

  it('round-trips every sampled float4 bit for bit under exact, correctly rounded parsing', () => {
    const samples = [...randomFloats(20_000, 1), 2 ** -149, -(2 ** -149), 2 ** -126, 3.4028234663852886e38, -0, 0];
    const wrong = samples.filter((x) => !strtofIs(float4Literal(x), x));
    expect(wrong.map((x) => [x, float4Literal(x)])).toEqual([]);
  });

  it('round-trips a million float4s through JavaScript parsing', () => {
    let wrong = 0;
    for (const x of randomFloats(1_000_000, 2)) if (!Object.is(Math.fround(Number(float4Literal(x))), x)) wrong++;
    expect(wrong).toBe(0);
  });

  it('has no more than 9 significant digits', () => {
    for (const x of randomFloats(10_000, 3)) {
      const digits = float4Literal(x).replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '');
      expect(digits.length).toBeLessThanOrEqual(9);
    }
  });
});

describe.each(BACKENDS)('vector literals on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend, { migrate: false });
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  });
  afterAll(() => db.close());

  it('are parsed by pgvector into exactly the float4s printed, subnormals and -0 included', async () => {
    const values = Float32Array.from([...randomFloats(4000, 4), 2 ** -149, -(2 ** -149), -0, 0]);
    for (let start = 0; start < values.length; start += 1000) {
      const chunk = values.subarray(start, start + 1000);
      const { rows } = await db.query<{ b: Uint8Array; t: string }>(
        'SELECT vector_send($1::vector) AS b, $1::vector::text AS t',
        [vectorLiteral(chunk)],
      );
      const back = Buffer.from(rows[0]!.b);
      expect(back.readInt16BE(0)).toBe(chunk.length);
      const mismatched = [...chunk].filter((x, i) => !Object.is(back.readFloatBE(4 + 4 * i), x));
      expect(mismatched).toEqual([]);
      // And pgvector's own text output parses back to the same values.
      expect([...parseVector(rows[0]!.t)].every((x, i) => Object.is(x, chunk[i]))).toBe(true);
    }
  });

  it('are read back exactly in pgvector’s binary form as hex, from vector and halfvec columns', async () => {
    const values = Float32Array.from([...randomFloats(3000, 5), 2 ** -149, -(2 ** -149), -0, 0, 3.4028234663852886e38]);
    await db.exec('CREATE TEMP TABLE hexed (v vector, h halfvec)');
    for (let start = 0; start < values.length; start += 1000) {
      const chunk = values.subarray(start, start + 1000);
      await db.query('INSERT INTO hexed VALUES ($1::vector, NULL)', [vectorLiteral(chunk)]);
      const { rows } = await db.query<{ v: string }>(`SELECT ${vectorHexSql('v')} AS v FROM hexed`);
      const back = decodeVectorHex(rows[0]!.v);
      expect(back).toHaveLength(chunk.length);
      expect([...chunk].filter((x, i) => !Object.is(back[i], x))).toEqual([]);
      await db.exec('DELETE FROM hexed');
    }
    // A halfvec is widened exactly: the same numbers as its text form.
    const half = Float32Array.from({ length: 1000 }, (_, i) => (i - 500) / 64);
    await db.query('INSERT INTO hexed VALUES (NULL, $1::halfvec)', [vectorLiteral(half)]);
    const { rows } = await db.query<{ h: string; t: string }>(
      `SELECT ${vectorHexSql('h')} AS h, h::text AS t FROM hexed`,
    );
    expect([...decodeVectorHex(rows[0]!.h)]).toEqual([...parseVector(rows[0]!.t)]);
    expect([...decodeVectorHex(rows[0]!.h)]).toEqual([...half]);
    await db.exec('DROP TABLE hexed');
  });

  it('refuses hex that is not a binary vector', () => {
    expect(() => decodeVectorHex('00020000' + '3f800000')).toThrow(/header says 2 dims/);
    expect(() => decodeVectorHex('')).toThrow(/not pgvector's binary vector form/);
  });
});
