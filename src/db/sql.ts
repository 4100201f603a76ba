/** Quotes a string as an SQL literal (standard_conforming_strings is on in every supported server). */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('a NUL character cannot be stored in PostgreSQL text');
  return `'${value.replaceAll("'", "''")}'`;
}

/** pgvector's text form of a vector: '[1,2,3]'. */
export function vectorLiteral(vector: ArrayLike<number>): string {
  return `[${Array.prototype.join.call(vector, ',')}]`;
}

/** Parses pgvector's text form back into numbers. */
export function parseVector(text: string): Float32Array {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '');
  return body.length === 0 ? new Float32Array(0) : Float32Array.from(body.split(','), Number);
}
