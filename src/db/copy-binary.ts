/**
 * PostgreSQL's binary COPY format, for the bulk write path: a header (signature, int32 flags,
 * int32 header-extension length), per row an int16 field count and per field an int32 length
 * and the bytes (length -1 for NULL), then an int16 -1 trailer. Integers and floats are
 * big-endian. Text is raw UTF-8. pgvector's binary `vector` is int16 dims, int16 unused (0),
 * then dims float4.
 *
 * Only float4 vectors are encoded: a `halfvec` store is filled by casting from a `vector`
 * column in SQL (the server rounds float4 to float16 exactly as it does for text input), which
 * keeps one encoder and one staging table for every profile.
 */
import { endianness } from 'node:os';

/** One field: text, a pgvector `vector` (float4), or NULL. */
export type CopyValue = string | Float32Array | null;

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const LITTLE_ENDIAN = endianness() === 'LE';
/** pgvector's limit; its int16 dims field could not carry more anyway. */
const MAX_VECTOR_DIMS = 16_000;

export function copyHeader(): Buffer {
  // Flags 0 (no OIDs) and header-extension length 0 are the zeros after the signature.
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header, 0);
  return header;
}

export function copyTrailer(): Buffer {
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  return trailer;
}

function fieldSize(value: CopyValue): number {
  if (value === null) return 4;
  if (typeof value === 'string') {
    // PostgreSQL text cannot hold NUL; refusing here names the problem better than the server.
    if (value.includes('\u0000')) throw new Error('a NUL character cannot be stored in PostgreSQL text');
    return 4 + Buffer.byteLength(value, 'utf8');
  }
  if (value.length > MAX_VECTOR_DIMS)
    throw new Error(`a vector of ${value.length} dimensions is over pgvector's limit`);
  return 4 + 4 + 4 * value.length;
}

function encode(rows: readonly (readonly CopyValue[])[], whole: boolean): Buffer {
  let size = whole ? SIGNATURE.length + 8 + 2 : 0;
  for (const row of rows) {
    size += 2;
    for (const value of row) size += fieldSize(value);
  }
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (whole) {
    at += SIGNATURE.copy(buf, 0);
    at = buf.writeInt32BE(0, at);
    at = buf.writeInt32BE(0, at);
  }
  for (const row of rows) {
    at = buf.writeInt16BE(row.length, at);
    for (const value of row) {
      if (value === null) {
        at = buf.writeInt32BE(-1, at);
      } else if (typeof value === 'string') {
        const length = buf.write(value, at + 4, 'utf8');
        buf.writeInt32BE(length, at);
        at += 4 + length;
      } else {
        const bytes = 4 * value.length;
        at = buf.writeInt32BE(4 + bytes, at);
        at = buf.writeInt16BE(value.length, at);
        at = buf.writeInt16BE(0, at);
        // Copy the floats' bytes as they are and byte-swap them in place: far faster than
        // writing each float big-endian on its own.
        buf.set(new Uint8Array(value.buffer, value.byteOffset, bytes), at);
        if (LITTLE_ENDIAN) buf.subarray(at, at + bytes).swap32();
        at += bytes;
      }
    }
  }
  if (whole) at = buf.writeInt16BE(-1, at);
  if (at !== size) throw new Error(`binary COPY encoding wrote ${at} bytes, expected ${size}`);
  return buf;
}

/** Encodes rows without the header and trailer, for a payload sent in chunks. */
export function encodeCopyRows(rows: readonly (readonly CopyValue[])[]): Buffer {
  return encode(rows, false);
}

/** A complete COPY payload, header to trailer, in one buffer. Every row must have the same fields. */
export function encodeCopy(rows: readonly (readonly CopyValue[])[]): Buffer {
  return encode(rows, true);
}
