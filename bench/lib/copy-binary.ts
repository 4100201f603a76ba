/**
 * PostgreSQL's binary COPY format, written by hand for the fastest possible baseline: a
 * header (signature, int32 flags, int32 header-extension length), per row an int16 field
 * count and per field an int32 length and the bytes, then an int16 -1 trailer. All integers
 * and floats are big-endian. pgvector's binary `vector` is int16 dims, int16 unused (0), then
 * dims float4. Text fields are raw UTF-8.
 */
import type { VectorSet } from './vectors.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The columns, in this order, that every encoded row carries. */
export const COPY_COLUMNS = '(doc_id, embedding, content_hash, fingerprint)';

export function copyHeader(): Buffer {
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header, 0);
  // flags = 0 (no OIDs), header extension length = 0: both already zero.
  return header;
}

export function copyTrailer(): Buffer {
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  return trailer;
}

/** Encodes rows [start, end) of the set into one buffer. */
export function encodeRows(set: VectorSet, start: number, end: number, fingerprint: string): Buffer {
  const fp = Buffer.from(fingerprint, 'utf8');
  const vectorBytes = 4 + 4 * set.dims;
  let size = 0;
  for (let i = start; i < end; i++) {
    size +=
      2 + 4 + Buffer.byteLength(set.ids[i]!) + 4 + vectorBytes + 4 + Buffer.byteLength(set.hashes[i]!) + 4 + fp.length;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  const text = (value: string) => {
    const length = buf.write(value, at + 4, 'utf8');
    buf.writeInt32BE(length, at);
    at += 4 + length;
  };
  for (let i = start; i < end; i++) {
    at = buf.writeInt16BE(4, at);
    text(set.ids[i]!);
    at = buf.writeInt32BE(vectorBytes, at);
    at = buf.writeInt16BE(set.dims, at);
    at = buf.writeInt16BE(0, at);
    const vector = set.vectors[i]!;
    for (let d = 0; d < set.dims; d++) at = buf.writeFloatBE(vector[d]!, at);
    text(set.hashes[i]!);
    at = buf.writeInt32BE(fp.length, at);
    at += fp.copy(buf, at);
  }
  if (at !== size) throw new Error(`binary COPY encoding wrote ${at} bytes, expected ${size}`);
  return buf;
}

/** The whole COPY payload in chunks of chunkRows rows, header first and trailer last. */
export function* copyChunks(set: VectorSet, fingerprint: string, chunkRows = 500): Generator<Buffer> {
  yield copyHeader();
  for (let i = 0; i < set.ids.length; i += chunkRows) {
    yield encodeRows(set, i, Math.min(set.ids.length, i + chunkRows), fingerprint);
  }
  yield copyTrailer();
}
