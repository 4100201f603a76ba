/**
 * Reads the image input of a row: the raw value of the profile's image column, which is the
 * image's bytes (bytea), a data URI, a local file path (or file:// URL) or an http(s) URL.
 * Every image is checked before a provider sees it: at most `max_bytes`, a PNG, JPEG, GIF or
 * WebP by its magic bytes, and decodable (@napi-rs/canvas, prebuilt binaries). An image that
 * fails any check fails its row with an ImageInputError naming the reason, so a broken image
 * becomes a dead letter, never a stored vector.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageSettings } from '../config/profile.js';
import { ImageInputError } from '../errors.js';

export type ImageMime = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

/** An image input ready for a provider: checked bytes and their type. */
export interface ImageInput {
  bytes: Uint8Array;
  mime: ImageMime;
  width: number;
  height: number;
  /** The http(s) URL the bytes came from, if they came from one. */
  url?: string;
}

export interface ImageLoadOptions extends ImageSettings {
  /** The fetch for http(s) images (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** A stopping worker's signal: an http(s) fetch in flight is abandoned (not the row's failure: the caller checks the signal). */
  signal?: AbortSignal;
}

/** The image format of `bytes` by its magic number, if it is one reembed accepts. */
export function sniffImage(bytes: Uint8Array): ImageMime | undefined {
  const at = (i: number, ...values: number[]) => values.every((v, j) => bytes[i + j] === v);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return undefined;
}

/** Reads, checks and decodes one image column value. */
export async function loadImageInput(value: unknown, options: ImageLoadOptions): Promise<ImageInput> {
  const image = await checkImage(await imageBytes(value, options), options);
  if (typeof value === 'string' && /^https?:\/\//i.test(value.trim())) image.url = value.trim();
  return image;
}

/** A short description of a value for messages: never a whole data URI or image. */
function describe(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}…` : value);
}

async function imageBytes(value: unknown, options: ImageLoadOptions): Promise<Uint8Array> {
  if (value instanceof Uint8Array) return value;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ImageInputError('invalid_value', 'the image column holds neither bytes nor a data URI, path or URL');
  }
  const text = value.trim();
  if (/^data:/i.test(text)) return dataUriBytes(text, options);
  if (/^https?:\/\//i.test(text)) return fetchBytes(text, options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !/^file:\/\//i.test(text)) {
    throw new ImageInputError('invalid_value', `${describe(text)} is not a data URI, a file path or an http(s) URL`);
  }
  let path = text;
  if (/^file:\/\//i.test(text)) {
    try {
      path = fileURLToPath(text);
    } catch (error) {
      throw new ImageInputError('invalid_value', `${describe(text)} is not a usable file URL`, { cause: error });
    }
  }
  return fileBytes(path, options);
}

function dataUriBytes(uri: string, options: ImageLoadOptions): Uint8Array {
  const comma = uri.indexOf(',');
  if (comma < 0) throw new ImageInputError('invalid_value', `data URI ${describe(uri)} has no comma`);
  const header = uri.slice(5, comma).toLowerCase();
  const mime = header.split(';')[0]!.trim();
  if (!mime.startsWith('image/')) {
    throw new ImageInputError('content_type', `data URI has type ${JSON.stringify(mime || 'text/plain')}, not image/*`);
  }
  const data = uri.slice(comma + 1);
  // base64 is 4 characters per 3 bytes: refuse before decoding what would be over the cap.
  if ((data.length * 3) / 4 > options.max_bytes + 3) tooLarge(Math.floor((data.length * 3) / 4), options);
  let bytes: Buffer;
  try {
    bytes = header.split(';').includes('base64')
      ? Buffer.from(data, 'base64')
      : Buffer.from(decodeURIComponent(data), 'latin1');
  } catch (error) {
    throw new ImageInputError('invalid_value', `data URI ${describe(uri)} does not decode`, { cause: error });
  }
  if (bytes.length > options.max_bytes) tooLarge(bytes.length, options);
  return bytes;
}

/** Whether `host` is one of the allowed hosts (`*.example.com` allows the subdomains of example.com). */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase().replace(/\.$/, '');
    return p.startsWith('*.') ? h.endsWith(p.slice(1)) && h.length > p.length - 1 : h === p;
  });
}

async function checkPathAllowed(path: string, options: ImageLoadOptions): Promise<void> {
  if (!options.allow_dirs) return;
  const real = await realpath(path);
  for (const dir of options.allow_dirs) {
    const rel = relative(await realpath(resolve(dir)).catch(() => resolve(dir)), real);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return;
  }
  throw new ImageInputError('not_allowed', `${describe(path)} is outside image.allow_dirs`);
}

async function fileBytes(path: string, options: ImageLoadOptions): Promise<Uint8Array> {
  try {
    await checkPathAllowed(path, options);
    const info = await stat(path);
    if (!info.isFile()) throw new ImageInputError('unreadable', `${describe(path)} is not a file`);
    if (info.size > options.max_bytes) tooLarge(info.size, options);
    return await readFile(path);
  } catch (error) {
    if (error instanceof ImageInputError) throw error;
    const code = (error as { code?: string }).code;
    throw new ImageInputError('unreadable', `cannot read ${describe(path)}${code ? ` (${code})` : ''}`, {
      cause: error,
    });
  }
}

async function fetchBytes(url: string, options: ImageLoadOptions): Promise<Uint8Array> {
  const fetch = options.fetch ?? globalThis.fetch;
  const timeout = AbortSignal.timeout(options.fetch_timeout_ms);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    const response = await fetchAllowed(fetch, url, signal, options);
    if (!response.ok) {
      await response.body?.cancel();
      const transient = response.status >= 500 || response.status === 429 || response.status === 408;
      throw new ImageInputError('http_status', `${describe(url)} answered HTTP ${response.status}`, { transient });
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!type.startsWith('image/')) {
      await response.body?.cancel();
      throw new ImageInputError(
        'content_type',
        `${describe(url)} has content-type ${JSON.stringify(type)}, not image/*`,
      );
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > options.max_bytes) {
      await response.body?.cancel();
      tooLarge(declared, options);
    }
    return await readCapped(response, options);
  } catch (error) {
    if (error instanceof ImageInputError) throw error;
    if (timeout.aborted) {
      throw new ImageInputError('timeout', `${describe(url)} took longer than ${options.fetch_timeout_ms} ms`, {
        cause: error,
        transient: true,
      });
    }
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new ImageInputError('unreadable', `cannot fetch ${describe(url)}${cause}`, { cause: error, transient: true });
  }
}

/** Redirects followed at most, each one checked against image.allow_hosts. */
const MAX_REDIRECTS = 5;

/**
 * Fetches `url`; with image.allow_hosts, follows redirects itself so that every hop is checked
 * before it is requested (a redirect must not lead a worker where a URL may not).
 */
async function fetchAllowed(
  fetch: typeof globalThis.fetch,
  url: string,
  signal: AbortSignal,
  options: ImageLoadOptions,
): Promise<Response> {
  const allowed = options.allow_hosts;
  if (!allowed) return fetch(url, { signal, redirect: 'follow' });
  let current = url;
  for (let hop = 0; ; hop++) {
    const target = new URL(current);
    if (!/^https?:$/.test(target.protocol) || !hostAllowed(target.hostname, allowed)) {
      throw new ImageInputError(
        'not_allowed',
        `${describe(current)}${current === url ? '' : ` (a redirect of ${describe(url)})`} is not on image.allow_hosts`,
      );
    }
    const response = await fetch(current, { signal, redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS)
      throw new ImageInputError('unreadable', `${describe(url)} redirects more than ${MAX_REDIRECTS} times`);
    current = new URL(location, current).toString();
  }
}

/** The body, stopping as soon as it passes the cap (a server may send more than it declared). */
async function readCapped(response: Response, options: ImageLoadOptions): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (!response.body) return new Uint8Array();
  for await (const chunk of response.body) {
    total += chunk.length;
    if (total > options.max_bytes) {
      await response.body.cancel().catch(() => undefined);
      tooLarge(total, options, 'at least ');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function tooLarge(bytes: number, options: ImageLoadOptions, qualifier = ''): never {
  throw new ImageInputError('too_large', `${qualifier}${bytes} bytes, over image.max_bytes (${options.max_bytes})`);
}

async function checkImage(bytes: Uint8Array, options: ImageLoadOptions): Promise<ImageInput> {
  if (bytes.length > options.max_bytes) tooLarge(bytes.length, options);
  const mime = sniffImage(bytes);
  if (!mime) throw new ImageInputError('format', `${bytes.length} bytes that are not a PNG, JPEG, GIF or WebP image`);
  // The byte cap bounds the compressed size only: a small PNG can decode to gigabytes. The
  // header says how large the bitmap would be, so an oversized one fails before decoding.
  const size = headerSize(bytes, mime);
  // A header whose size cannot be read is not decoded either: the decoder may still find a
  // frame there (it skips what this reader stops at) and allocate whatever it declares.
  if (!size) throw new ImageInputError('decode', `${bytes.length} bytes of ${mime} without a readable image size`);
  if (size.width * size.height > options.max_pixels) {
    throw new ImageInputError(
      'too_large',
      `${size.width}×${size.height} pixels, over image.max_pixels (${options.max_pixels})`,
    );
  }
  const { loadImage } = await import('@napi-rs/canvas');
  try {
    const image = await loadImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (!(image.width > 0 && image.height > 0)) throw new Error('no pixels');
    return { bytes, mime, width: image.width, height: image.height };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new ImageInputError('decode', `${bytes.length} bytes of ${mime} that do not decode (${why})`, {
      cause: error,
    });
  }
}

/**
 * The width and height an image's header declares, read without decoding (PNG IHDR, GIF
 * logical screen and every frame's extent, JPEG SOFn, WebP VP8/VP8L/VP8X); undefined when the
 * header cannot be read (the image then fails without being decoded).
 */
export function headerSize(bytes: Uint8Array, mime: ImageMime): { width: number; height: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (mime === 'image/png')
    return b.length >= 24 && b.toString('latin1', 12, 16) === 'IHDR'
      ? { width: b.readUInt32BE(16), height: b.readUInt32BE(20) }
      : undefined;
  if (mime === 'image/gif') return gifSize(b);
  if (mime === 'image/webp') {
    const chunk = b.toString('latin1', 12, 16);
    if (chunk === 'VP8X' && b.length >= 30) return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
    if (chunk === 'VP8L' && b.length >= 25) {
      const bits = b.readUInt32LE(21);
      return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
    }
    if (chunk === 'VP8 ' && b.length >= 30)
      return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
    return undefined;
  }
  // JPEG: walk the markers to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC).
  let i = 2;
  while (i + 9 < b.length) {
    // Bytes between markers are skipped, as decoders do ("extraneous bytes"): stopping there
    // would let a frame after them be decoded unchecked.
    if (b[i] !== 0xff) {
      i++;
      continue;
    }
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const length = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { width: b.readUInt16BE(i + 7), height: b.readUInt16BE(i + 5) };
    i += 2 + length;
  }
  return undefined;
}

/**
 * A GIF's size: the logical screen, or larger where a frame reaches beyond it (a decoder
 * allocates the frame it is given). Walks the blocks: extensions and image data are skipped by
 * their sub-block lengths. A stray byte or a cut-off frame ends the walk, as it ends decoding;
 * undefined when no frame comes before that.
 */
function gifSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length < 13) return undefined;
  let width = b.readUInt16LE(6);
  let height = b.readUInt16LE(8);
  // The bytes of a colour table a packed field announces (flag 0x80, 2^(n+1) RGB entries).
  const colourTable = (packed: number) => (packed & 0x80 ? 3 * 2 ** ((packed & 7) + 1) : 0);
  let i = 13 + colourTable(b[10]!);
  let frames = 0;
  const skipSubBlocks = (at: number): number => {
    while (at < b.length && b[at]! !== 0) at += 1 + b[at]!;
    return at + 1;
  };
  while (i < b.length) {
    const block = b[i]!;
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      i = skipSubBlocks(i + 2); // extension: introducer, label, sub-blocks
    } else if (block === 0x2c) {
      // A frame cut off in its descriptor: decoders stop there and show the frames before it.
      if (i + 10 > b.length) break;
      width = Math.max(width, b.readUInt16LE(i + 1) + b.readUInt16LE(i + 5));
      height = Math.max(height, b.readUInt16LE(i + 3) + b.readUInt16LE(i + 7));
      frames++;
      i += 10 + colourTable(b[i + 9]!);
      i = skipSubBlocks(i + 1); // LZW minimum code size, then the image data
    } else break; // an unknown byte: decoders take it for the end of the stream
  }
  return frames > 0 ? { width, height } : undefined;
}
