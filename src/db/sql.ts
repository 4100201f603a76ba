declare const sqlLiteral: unique symbol;
/** A quoted SQL string literal; only quoteLiteral makes one (the lint allows the cast nowhere else). */
export type SqlLiteral = string & { readonly [sqlLiteral]: true };

/**
 * Quotes a string as an SQL literal. The E'' form reads backslashes as escapes whatever
 * standard_conforming_strings is set to (a role or database may turn it off), so doubling
 * backslashes and quotes is always exact and never lets configuration text out of the literal.
 */
export function quoteLiteral(value: string): SqlLiteral {
  if (value.includes('\u0000')) throw new Error('a NUL character cannot be stored in PostgreSQL text');
  return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'` as SqlLiteral;
}

/**
 * A dollar-quote tag that does not occur in `body`, so a function body built from
 * configuration text can never close its own quoting.
 */
export function dollarTag(body: string): string {
  for (let i = 0; ; i++) {
    const tag = `$reembed${i}$`;
    if (!body.includes(tag)) return tag;
  }
}

/**
 * One vector element as pgvector will store it: a float4, printed with 9 significant digits,
 * which is always enough for the server's strtof to give back the same float4 bit for bit
 * (9 digits sit well inside the float4's rounding interval, subnormals included), with
 * trailing zeros dropped. Printing the shortest decimal instead saves about a tenth of the
 * bytes but takes 2-3 times as long in JavaScript (toPrecision tried at several lengths); the
 * shortest double (what String(x) gives) is ~17 digits.
 */
export function float4Literal(value: number): string {
  const x = Math.fround(value);
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const text = x.toPrecision(9); // 'NaN' and 'Infinity' pass through; the server refuses them
  const e = text.indexOf('e');
  const mantissa = e < 0 ? text : text.slice(0, e);
  if (!mantissa.includes('.')) return text;
  let end = mantissa.length;
  while (mantissa.charCodeAt(end - 1) === 48 /* 0 */) end--;
  if (mantissa.charCodeAt(end - 1) === 46 /* . */) end--;
  return e < 0 ? mantissa.slice(0, end) : mantissa.slice(0, end) + text.slice(e);
}

/** pgvector's text form of a vector: '[1,2,3]', each element exactly the float4 the server stores. */
export function vectorLiteral(vector: ArrayLike<number>): string {
  let text = '[';
  for (let i = 0; i < vector.length; i++) text += (i === 0 ? '' : ',') + float4Literal(vector[i]!);
  return `${text}]`;
}

/** Parses pgvector's text form back into numbers. */
export function parseVector(text: string): Float32Array {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '');
  return body.length === 0 ? new Float32Array(0) : Float32Array.from(body.split(','), Number);
}

/**
 * A select expression that reads a vector or halfvec column as hex text of pgvector's binary
 * form (vector_send: int16 dims, int16 unused, then each element as a big-endian float4; a
 * halfvec is first widened to vector, which is exact). Read with decodeVectorHex: several
 * times cheaper than the text form on both databases (no decimal formatting and parsing), and
 * exact by construction.
 */
export function vectorHexSql(column: string): string {
  return `encode(vector_send(${column}::vector), 'hex')`;
}

/** Decodes what vectorHexSql selected. */
export function decodeVectorHex(hex: string): Float32Array {
  const bytes = Buffer.from(hex, 'hex');
  const dims = bytes.length >= 4 ? bytes.readInt16BE(0) : -1;
  if (dims < 0 || bytes.length !== 4 + 4 * dims) {
    throw new Error(`not pgvector's binary vector form (${bytes.length} bytes, header says ${dims} dims)`);
  }
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = bytes.readFloatBE(4 + 4 * i);
  return out;
}

/**
 * Session settings that change how values render as text (timestamps, dates, intervals,
 * floats). Templates render columns with ::text and the content hash covers that text, so
 * every reembed session pins them: two workers, or a worker and `verify`, must never disagree
 * about a row's hash because their roles or databases set another time zone.
 */
export const RENDERING_SETTINGS: Record<string, string> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  extra_float_digits: '1',
};
