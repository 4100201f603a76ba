/**
 * Image inputs: every kind of column value (bytes, data URI, path, file URL, http URL) is read
 * and checked, and every way an image can be unusable fails with its typed reason.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageInputError } from '../../src/errors.js';
import { headerSize, hostAllowed, loadImageInput, sniffImage, type ImageLoadOptions } from '../../src/source/image.js';
import { brokenPng, glyphImage } from '../helpers/images.js';
import { scaled } from '../helpers/slowdown.js';

const png = glyphImage('Aa Bb', { width: 120, height: 40 });
const jpeg = glyphImage('Gg 01', { width: 120, height: 40, format: 'jpeg' });
const options = { max_bytes: 1_000_000, fetch_timeout_ms: scaled(2000), max_pixels: 40_000_000 };

async function reason(value: unknown, opts: Partial<ImageLoadOptions> = {}): Promise<ImageInputError> {
  const error = await loadImageInput(value, { ...options, ...opts }).then(
    () => new Error('expected the image to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageInputError);
  return error as ImageInputError;
}

describe('image inputs', () => {
  let server: Server;
  let base: string;
  const hanging = new Set<() => void>();
  const requested: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      requested.push(`${req.headers.host} ${path}`);
      if (path === '/hop.png') return res.writeHead(302, { location: '/glyph.png' }).end();
      if (path === '/away.png') {
        // To the same server under another name (localhost): a different host to the allow-list.
        const port = (server.address() as AddressInfo).port;
        return res.writeHead(302, { location: `http://localhost:${port}/secret.png` }).end();
      }
      if (path === '/glyph.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      if (path === '/page.html') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
      if (path === '/big.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(5000, 1));
      if (path === '/unavailable.png') return res.writeHead(503).end();
      if (path === '/slow.png') {
        const done = () => res.writeHead(200, { 'content-type': 'image/png' }).end(png);
        hanging.add(done);
        return;
      }
      res.writeHead(404).end('not found');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const done of hanging) done();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('matches hosts of the allow-list exactly, or by subdomain with *.', () => {
    expect(hostAllowed('cdn.example.com', ['cdn.example.com'])).toBe(true);
    expect(hostAllowed('CDN.example.com.', ['cdn.example.com'])).toBe(true);
    expect(hostAllowed('img.cdn.example.com', ['*.example.com'])).toBe(true);
    expect(hostAllowed('example.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('evilexample.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('169.254.169.254', ['cdn.example.com'])).toBe(false);
  });

  it('fetches only from image.allow_hosts, checking every redirect before it is followed', async () => {
    const allow_hosts = ['127.0.0.1'];
    await expect(loadImageInput(`${base}/glyph.png`, { ...options, allow_hosts })).resolves.toMatchObject({
      mime: 'image/png',
    });
    // A redirect on the allowed host is followed.
    await expect(loadImageInput(`${base}/hop.png`, { ...options, allow_hosts })).resolves.toMatchObject({
      mime: 'image/png',
    });
    const refused = await reason(`${base}/glyph.png`.replace('127.0.0.1', 'localhost'), { allow_hosts });
    expect(refused.reason).toBe('not_allowed');
    requested.length = 0;
    const redirected = await reason(`${base}/away.png`, { allow_hosts });
    expect(redirected.reason).toBe('not_allowed');
    expect(redirected.message).toMatch(/a redirect of/);
    // The redirect's target was never requested.
    expect(requested).toEqual([`127.0.0.1:${new URL(base).port} /away.png`]);
  });

  it('reads files only inside image.allow_dirs, symbolic links resolved', async () => {
    const root = mkdtempSync(join(tmpdir(), 'reembed-allow-'));
    const inside = join(root, 'glyphs');
    const outside = join(root, 'private');
    mkdirSync(inside);
    mkdirSync(outside);
    writeFileSync(join(inside, 'a.png'), png);
    writeFileSync(join(outside, 'b.png'), png);
    symlinkSync(join(outside, 'b.png'), join(inside, 'link.png'));
    const allow_dirs = [inside];
    await expect(loadImageInput(join(inside, 'a.png'), { ...options, allow_dirs })).resolves.toMatchObject({
      mime: 'image/png',
    });
    for (const path of [join(outside, 'b.png'), join(inside, 'link.png'), join(inside, '..', 'private', 'b.png')]) {
      expect((await reason(path, { allow_dirs })).reason).toBe('not_allowed');
    }
    // Without the list, any readable path is read (the default).
    await expect(loadImageInput(join(outside, 'b.png'), options)).resolves.toMatchObject({ mime: 'image/png' });
  });

  it('reads the declared size from PNG, JPEG, WebP and GIF headers without decoding', async () => {
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const bytes = glyphImage('Aa', { width: 333, height: 71, format });
      expect(headerSize(bytes, sniffImage(bytes)!), format).toEqual({ width: 333, height: 71 });
      await expect(loadImageInput(bytes, options)).resolves.toMatchObject({ width: 333, height: 71 });
    }
  });

  /** A GIF of a `screen`-square logical screen holding one `frame`-square frame (no pixels to speak of). */
  function gif(screen: number, frame: number): Buffer {
    const le = (n: number) => [n & 255, n >> 8];
    return Buffer.from([
      ...Buffer.from('GIF89a'),
      ...le(screen),
      ...le(screen),
      0x80,
      0,
      0, // a global colour table of 2
      0,
      0,
      0,
      255,
      255,
      255,
      0x21,
      0xf9,
      4,
      0,
      0,
      0,
      0,
      0, // a graphic control extension, skipped by its length
      0x2c,
      0,
      0,
      0,
      0,
      ...le(frame),
      ...le(frame),
      0, // the frame
      2,
      2,
      0x4c,
      0x01,
      0, // LZW minimum code size 2; one sub-block (clear, end)
      0x3b,
    ]);
  }

  it('reads a GIF frame larger than its logical screen, and fails a header it cannot read without decoding it', async () => {
    expect(headerSize(gif(2, 2), 'image/gif')).toEqual({ width: 2, height: 2 });
    await expect(loadImageInput(gif(2, 2), options)).resolves.toMatchObject({ mime: 'image/gif', width: 2 });
    // A 1×1 screen around a 10000×10000 frame: the decoder would allocate the frame.
    expect(headerSize(gif(1, 10_000), 'image/gif')).toEqual({ width: 10_000, height: 10_000 });
    expect((await reason(gif(1, 10_000))).message).toMatch(/10000×10000 pixels, over image.max_pixels/);
    // Stray bytes after a frame end the stream for the decoder too: the frame before them counts.
    const g = gif(2, 2);
    const stray = Buffer.concat([g.subarray(0, g.length - 1), Buffer.from([0, 0, 0x3b])]);
    expect(headerSize(stray, 'image/gif')).toEqual({ width: 2, height: 2 });
    await expect(loadImageInput(stray, options)).resolves.toMatchObject({ width: 2, height: 2 });
    // No frame before the end of the stream, and a JPEG cut before its start-of-frame: not decoded.
    for (const bytes of [gif(2, 2).subarray(0, 30), jpeg.subarray(0, 24)]) {
      const error = await reason(bytes);
      expect(error.reason).toBe('decode');
      expect(error.message).toMatch(/without a readable image size/);
    }
  });

  it('fails an image whose header declares more pixels than image.max_pixels, before decoding it', async () => {
    // A PNG header claiming 30000 × 30000 (900 MP) in a few bytes: decoded, gigabytes.
    const bomb = Buffer.from(png);
    bomb.writeUInt32BE(30_000, 16);
    bomb.writeUInt32BE(30_000, 20);
    const error = await reason(bomb);
    expect(error.reason).toBe('too_large');
    expect(error.message).toMatch(/30000×30000 pixels, over image.max_pixels \(40000000\)/);
    expect((await reason(png, { max_pixels: 120 * 40 - 1 })).reason).toBe('too_large');
    // The same claim in a JPEG's start-of-frame, behind a stray byte the decoder would skip.
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    const claim = Buffer.from(jpeg);
    claim.writeUInt16BE(12_000, sof + 5);
    claim.writeUInt16BE(12_000, sof + 7);
    const stray = Buffer.concat([claim.subarray(0, sof), Buffer.from([0]), claim.subarray(sof)]);
    expect((await reason(stray)).message).toMatch(/12000×12000 pixels, over image.max_pixels/);
    await expect(loadImageInput(png, { ...options, max_pixels: 120 * 40 })).resolves.toMatchObject({ width: 120 });
  });

  it('fails a file URL with a host and a data URI that does not decode as invalid values, never a crash', async () => {
    for (const value of ['file://evil/x.png', 'file:///a%2Fb.png', 'data:image/png,%ZZ']) {
      const error = await reason(value);
      expect(error.reason, value).toBe('invalid_value');
    }
  });

  it('sniffs PNG, JPEG, GIF and WebP by their magic bytes only', () => {
    expect(sniffImage(png)).toBe('image/png');
    expect(sniffImage(jpeg)).toBe('image/jpeg');
    expect(sniffImage(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffImage(Buffer.from('hello'))).toBeUndefined();
  });

  it('reads bytes, data URIs, paths, file URLs and http URLs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-images-'));
    const file = join(dir, 'glyph.png');
    writeFileSync(file, png);
    const values: unknown[] = [
      new Uint8Array(png),
      `data:image/png;base64,${png.toString('base64')}`,
      file,
      pathToFileURL(file).href,
      `${base}/glyph.png`,
    ];
    for (const value of values) {
      const image = await loadImageInput(value, options);
      expect(image).toMatchObject({ mime: 'image/png', width: 120, height: 40 });
      expect(Buffer.from(image.bytes).equals(png)).toBe(true);
    }
    expect(await loadImageInput(jpeg, options)).toMatchObject({ mime: 'image/jpeg', width: 120, height: 40 });
    // An image from a URL remembers it (send_image_urls); one from a file does not.
    expect((await loadImageInput(`${base}/glyph.png`, options)).url).toBe(`${base}/glyph.png`);
    expect((await loadImageInput(file, options)).url).toBeUndefined();
  });

  it('fails each unusable image with its reason', async () => {
    expect((await reason(brokenPng())).reason).toBe('decode');
    expect((await reason(Buffer.from('plain text, not an image'))).reason).toBe('format');
    expect((await reason(`data:text/plain;base64,${Buffer.from('hi').toString('base64')}`)).reason).toBe(
      'content_type',
    );
    expect((await reason(png, { max_bytes: 100 })).reason).toBe('too_large');
    expect((await reason(`data:image/png;base64,${png.toString('base64')}`, { max_bytes: 100 })).reason).toBe(
      'too_large',
    );
    expect((await reason('/no/such/dir/glyph.png')).reason).toBe('unreadable');
    expect((await reason(42)).reason).toBe('invalid_value');
    expect((await reason('ftp://example.invalid/glyph.png')).reason).toBe('invalid_value');

    const missing = await reason(`${base}/missing.png`);
    expect(missing).toMatchObject({ reason: 'http_status', transient: false, code: 'IMAGE_INVALID' });
    expect(missing.message).toMatch(/HTTP 404/);
    expect(await reason(`${base}/unavailable.png`)).toMatchObject({ reason: 'http_status', transient: true });
    expect((await reason(`${base}/page.html`)).reason).toBe('content_type');
    expect((await reason(`${base}/big.png`, { max_bytes: 1000 })).reason).toBe('too_large');
    const slow = await reason(`${base}/slow.png`, { fetch_timeout_ms: 50 });
    expect(slow).toMatchObject({ reason: 'timeout', transient: true });
  });
});
