/** Expected bytes and awkward ids for the binary COPY and write-path tests. */

/** pgvector's binary `vector`, built independently of the encoder: int16 dims, int16 0, float4s, all big-endian. */
export function vectorBytes(vector: Float32Array): Buffer {
  const out = Buffer.alloc(4 + 4 * vector.length);
  out.writeInt16BE(vector.length, 0);
  vector.forEach((x, i) => out.writeFloatBE(x, 4 + 4 * i));
  return out;
}

/** Ids that break naive quoting, escaping or encoding. */
export const AWKWARD_IDS = [
  "it's",
  'say "hi"',
  'back\\slash',
  'line\nbreak\r\n',
  'tab\there',
  ' spaced ',
  '中文 🚀 emoji',
  '',
  '\\N',
  'comma, [bracket] {brace}',
];
