/**
 * Provider `multimodal` in its three wire formats against the fake server: the requests carry
 * text and images as the real services expect them, answers become one vector per input, and
 * the faults (429 with Retry-After, 500, a timeout, wrong dimensions, malformed JSON) go
 * through the resilience layer like any provider's: retried, or a typed error, never a vector.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProfileInput, Wire } from '../../src/config/profile.js';
import { createEmbedder } from '../../src/embedders/create.js';
import type { EmbedImage } from '../../src/embedders/embedder.js';
import {
  InvalidResponseError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  RateLimitedError,
} from '../../src/embedders/errors.js';
import { ConfigError } from '../../src/errors.js';
import {
  fakeVector,
  imageKey,
  multimodalKey,
  startFakeProvider,
  type FakeProvider,
  type Fault,
} from '../helpers/fake-provider.js';
import { glyphImage } from '../helpers/images.js';
import { scaled } from '../helpers/slowdown.js';
import { makeProfile, recordingSleep } from './profile-helper.js';

const DIMS = 8;
const PATHS: Record<Wire, string> = { jina: '/v1/embeddings', cohere: '/v2/embed', voyage: '/v1/multimodalembeddings' };
const png = glyphImage('Aa Bb', { width: 96, height: 32 });
const otherPng = glyphImage('Zz Yy', { width: 96, height: 32 });
const image: EmbedImage = { bytes: png, mime: 'image/png' };
const other: EmbedImage = { bytes: otherPng, mime: 'image/png' };

function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
function f32(v: number[]): number[] {
  return Array.from(Float32Array.from(v));
}

/** The vector the client should produce for an input, per wire (Jina fuses its text and image items). */
function expected(wire: Wire, text: string, bytes?: Uint8Array): number[] {
  if (wire !== 'jina' || !bytes || !text) return f32(unit(fakeVector(multimodalKey(text, bytes), DIMS)));
  const t = unit(fakeVector(`text:${text}`, DIMS));
  const i = unit(fakeVector(imageKey(bytes), DIMS));
  return f32(unit(t.map((x, j) => (x + i[j]!) / 2)));
}

describe.each(['jina', 'cohere', 'voyage'] as const)('multimodal provider, %s wire', (wire) => {
  let fake: FakeProvider;
  const timeoutMs = scaled(1000);
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: DIMS, apiKey: 'secret' });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.setFaults(undefined);
  });

  function embedder(overrides: Partial<ProfileInput> = {}) {
    const recorder = recordingSleep();
    const profile = makeProfile(
      {
        provider: 'multimodal',
        wire,
        model: 'fake-clip',
        dims: DIMS,
        base_url: fake.url,
        api_key_env: 'FAKE_KEY',
        timeout_ms: timeoutMs,
        max_retries: 3,
        ...overrides,
      },
      'glyphs',
    );
    const e = createEmbedder(profile, { env: { FAKE_KEY: 'secret' }, sleep: recorder.sleep, random: () => 0.5 });
    return { embedder: e, waits: recorder.waits };
  }

  it('sends text and images in the wire format and returns one vector per input', async () => {
    const { embedder: e } = embedder();
    const texts = ['Serif Bold', 'caption only', ''];
    const result = await e.embed(texts, 'document', { images: [image, null, other] });
    expect(fake.requests).toHaveLength(1);
    const request = fake.requests[0]!;
    expect(request).toMatchObject({ path: PATHS[wire], format: wire, model: 'fake-clip' });
    expect(request.headers.authorization).toBe('Bearer secret');
    const b64 = png.toString('base64');
    if (wire === 'jina') {
      expect(request.body.input).toEqual([
        { text: 'Serif Bold' },
        { image: b64 },
        { text: 'caption only' },
        { image: otherPng.toString('base64') },
      ]);
    } else if (wire === 'cohere') {
      expect(request.body).toMatchObject({ input_type: 'search_document', embedding_types: ['float'] });
      expect((request.body.inputs as unknown[])[0]).toEqual({
        content: [
          { type: 'text', text: 'Serif Bold' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${b64}` } },
        ],
      });
    } else {
      expect(request.body).toMatchObject({ input_type: 'document' });
      expect((request.body.inputs as unknown[])[0]).toEqual({
        content: [
          { type: 'text', text: 'Serif Bold' },
          { type: 'image_base64', image_base64: `data:image/png;base64,${b64}` },
        ],
      });
    }
    expect(result.vectors.map((v) => Array.from(v))).toEqual([
      expected(wire, 'Serif Bold', png),
      expected(wire, 'caption only'),
      expected(wire, '', otherPng),
    ]);
  });

  it('embeds a text query as text alone, with the query input type', async () => {
    const { embedder: e } = embedder();
    const result = await e.embed(['bold serif'], 'query');
    const body = fake.requests[0]!.body;
    if (wire === 'jina') expect(body.input).toEqual([{ text: 'bold serif' }]);
    if (wire === 'cohere') expect(body.input_type).toBe('search_query');
    if (wire === 'voyage') expect(body.input_type).toBe('query');
    expect(Array.from(result.vectors[0]!)).toEqual(expected(wire, 'bold serif'));
  });

  it('batches by count and by image bytes', async () => {
    const { embedder: e } = embedder({ batch_size: 3, batch_bytes: png.length + otherPng.length });
    const texts = Array.from({ length: 5 }, (_, i) => `font ${i}`);
    const images = [image, other, image, null, other];
    const result = await e.embed(texts, 'document', { images });
    // The first two images fill the byte budget; then three inputs are within both limits.
    expect(fake.requests.map((r) => r.inputs.length)).toEqual(wire === 'jina' ? [4, 5] : [2, 3]);
    expect(result.vectors.map((v) => Array.from(v))).toEqual(texts.map((t, i) => expected(wire, t, images[i]?.bytes)));
  });

  it('sends an image read from a URL by its URL with send_image_urls (jina, voyage)', async () => {
    const url = 'https://images.example.invalid/glyph.png';
    const withUrl = { ...image, url };
    if (wire === 'cohere') {
      expect(() => embedder({ send_image_urls: true })).toThrow(/send_image_urls applies to wires jina and voyage/);
      return;
    }
    const { embedder: byUrl } = embedder({ send_image_urls: true });
    await byUrl.embed(['Serif Bold'], 'document', { images: [withUrl] });
    const expectedInputs = wire === 'jina' ? ['text:Serif Bold', `url:${url}`] : [`text:Serif Bold+url:${url}`];
    expect(fake.requests[0]!.inputs).toEqual(expectedInputs);
    // Without the setting, the bytes go, even for an image that came from a URL.
    const { embedder: byBytes } = embedder();
    await byBytes.embed(['Serif Bold'], 'document', { images: [withUrl] });
    expect(fake.requests[1]!.inputs.join('+')).toBe(multimodalKey('Serif Bold', png));
  });

  const retried: { name: string; fault: Fault; waitsAtLeast?: number }[] = [
    { name: '429 with Retry-After', fault: { kind: 'rate-limit', retryAfter: '2' }, waitsAtLeast: 2000 },
    { name: '500', fault: { kind: 'status', status: 500 } },
    { name: 'a timeout', fault: { kind: 'slow', delayMs: 10 * timeoutMs } },
    { name: 'wrong dimensions', fault: { kind: 'wrong-dims', dims: 5 } },
    { name: 'malformed JSON', fault: { kind: 'malformed-json' } },
  ];

  it.each(retried)('retries once after $name and returns correct vectors', async (c) => {
    fake.setFaults({ sequence: [c.fault] });
    const { embedder: e, waits } = embedder();
    const result = await e.embed(['Serif Bold'], 'document', { images: [image] });
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]!.fault).toBe(c.fault.kind);
    expect(Array.from(result.vectors[0]!)).toEqual(expected(wire, 'Serif Bold', png));
    if (c.waitsAtLeast !== undefined) expect(waits[0]).toBeGreaterThanOrEqual(c.waitsAtLeast);
  });

  const persistent: { name: string; fault: Fault; error: new (...args: never[]) => Error; message: RegExp }[] = [
    { name: '429', fault: { kind: 'rate-limit', retryAfter: '1' }, error: RateLimitedError, message: /HTTP 429/ },
    { name: '500', fault: { kind: 'status', status: 500 }, error: ProviderUnavailableError, message: /HTTP 500/ },
    {
      name: 'a timeout',
      fault: { kind: 'slow', delayMs: 10 * timeoutMs },
      error: ProviderTimeoutError,
      message: /did not answer within/,
    },
    {
      name: 'wrong dimensions',
      fault: { kind: 'wrong-dims', dims: 5 },
      error: InvalidResponseError,
      message: /5 dimensions for input 0, expected 8/,
    },
    {
      name: 'malformed JSON',
      fault: { kind: 'malformed-json' },
      error: InvalidResponseError,
      message: /not valid JSON/,
    },
  ];

  it.each(persistent)('ends a persistent $name in a typed error, never a vector', async (c) => {
    fake.setFaults({ random: { rate: 1, faults: [c.fault] } });
    const { embedder: e } = embedder({ max_retries: 2 });
    const error = await e.embed(['Serif Bold'], 'document', { images: [image] }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(c.error);
    expect((error as Error).message).toMatch(/^profile glyphs: /);
    expect((error as Error).message).toMatch(c.message);
    expect(fake.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses an answer that numbers two vectors alike, which would store one under the wrong row', async () => {
    fake.setFaults({ random: { rate: 1, faults: [{ kind: 'duplicate-index' }] } });
    const { embedder: e } = embedder({ max_retries: 1 });
    const embedding = e.embed(['Serif Bold', 'Sans Light'], 'document', { images: [image, image] });
    if (wire === 'cohere') {
      // Cohere's answer is a plain list in input order, without indexes: nothing to number alike.
      expect((await embedding).vectors).toHaveLength(2);
      return;
    }
    const error = await embedding.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidResponseError);
    // Jina numbers text and image parts apart (four items for two inputs), Voyage one per input.
    expect((error as Error).message).toMatch(/data indexes are not 0 to (1|3) each once \(0, 0[,)]/);
  });
});

describe('multimodal configuration', () => {
  it('needs a wire, and only multimodal takes one; text providers refuse images', async () => {
    expect(() => makeProfile({ provider: 'multimodal', model: 'm', dims: 8 })).toThrow(/needs wire/);
    expect(() => makeProfile({ provider: 'hash', dims: 8, wire: 'jina' })).toThrow(/needs wire/);
    expect(() => makeProfile({ provider: 'hash', dims: 8, input: { text: '{name}', image: '{glyph}' } })).toThrow(
      /needs a provider that embeds images/,
    );
    expect(() =>
      makeProfile({ provider: 'hash-image', dims: 8, input: { text: '{name}', image: '{glyph} and more' } }),
    ).toThrow(/one column placeholder/);
    const text = createEmbedder(makeProfile({ provider: 'hash', dims: 8 }));
    await expect(text.embed(['x'], 'document', { images: [image] })).rejects.toThrow(ConfigError);
  });
});
