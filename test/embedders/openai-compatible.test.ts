import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProfileInput } from '../../src/config/profile.js';
import { ConfigError } from '../../src/errors.js';
import { createEmbedder, createProviderClient, describeEmbedder } from '../../src/embedders/create.js';
import { InvalidResponseError, ProviderAuthError } from '../../src/embedders/errors.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeProfile, recordingSleep } from './profile-helper.js';

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider({ dims: 8, apiKey: 'sk-test-123' });
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const env = { EMBEDDINGS_KEY: 'sk-test-123' };

function profile(overrides: Partial<ProfileInput> = {}) {
  return makeProfile(
    {
      provider: 'openai-compatible',
      model: 'text-embedding-3-small',
      dims: 8,
      base_url: fake.openaiUrl,
      api_key_env: 'EMBEDDINGS_KEY',
      ...overrides,
    },
    'openai_small',
  );
}

describe('openai-compatible provider', () => {
  it('posts the OpenAI embeddings request with the key from the named variable', async () => {
    const embedder = createEmbedder(profile(), { env });
    const result = await embedder.embed(['alpha beta', 'gamma'], 'document');
    expect(result.vectors).toHaveLength(2);
    expect(result.usage.tokens).toBe(3);
    const [request] = fake.requests;
    expect(request!.path).toBe('/v1/embeddings');
    expect(request!.headers.authorization).toBe('Bearer sk-test-123');
    expect(request!.body).toMatchObject({
      model: 'text-embedding-3-small',
      input: ['alpha beta', 'gamma'],
      encoding_format: 'float',
    });
    expect(request!.body).not.toHaveProperty('dimensions');
  });

  it('reads process.env by default', async () => {
    process.env.TEST_EMBEDDINGS_KEY = 'sk-test-123';
    try {
      const embedder = createEmbedder(profile({ api_key_env: 'TEST_EMBEDDINGS_KEY' }));
      await embedder.embed(['x'], 'query');
      expect(fake.requests[0]!.headers.authorization).toBe('Bearer sk-test-123');
    } finally {
      delete process.env.TEST_EMBEDDINGS_KEY;
    }
  });

  it('does not retry a wrong key', async () => {
    const embedder = createEmbedder(profile(), { env: { EMBEDDINGS_KEY: 'wrong' }, sleep: recordingSleep().sleep });
    const failure = embedder.embed(['x'], 'document');
    await expect(failure).rejects.toBeInstanceOf(ProviderAuthError);
    await expect(failure).rejects.toThrow(
      'profile openai_small: provider refused the credentials, HTTP 401: invalid api key (check api_key_env)',
    );
    expect(fake.requests).toHaveLength(1);
  });

  it('refuses to start when the named variable is not set', () => {
    expect(() => createEmbedder(profile(), { env: {} })).toThrow(ConfigError);
    expect(() => createEmbedder(profile(), { env: {} })).toThrow(
      'profile openai_small: api_key_env EMBEDDINGS_KEY is not set in the environment',
    );
  });

  it('sends dimensions only when send_dimensions is set', async () => {
    // The fake honours `dimensions` like text-embedding-3 does; without it, it returns 8.
    const shortened = createEmbedder(profile({ dims: 4, send_dimensions: true }), { env });
    const result = await shortened.embed(['x'], 'document');
    expect(fake.requests[0]!.body.dimensions).toBe(4);
    expect(result.vectors[0]).toHaveLength(4);
    const unsent = createEmbedder(profile({ dims: 4, max_retries: 0 }), { env });
    await expect(unsent.embed(['x'], 'document')).rejects.toBeInstanceOf(InvalidResponseError);
    expect(fake.requests[1]!.body).not.toHaveProperty('dimensions');
  });

  it('uses an injected fetch', async () => {
    const seen: string[] = [];
    const embedder = createEmbedder(profile(), {
      env,
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    await embedder.embed(['x'], 'document');
    expect(seen).toEqual([`${fake.openaiUrl}/embeddings`]);
  });

  it('needs base_url, a model and a batch_size the API accepts', () => {
    expect(() => createProviderClient({ ...profile(), base_url: undefined }, { env })).toThrow(
      'profile openai_small: provider openai-compatible needs base_url',
    );
    expect(() => createProviderClient({ ...profile(), model: undefined }, { env })).toThrow('needs a model');
    expect(() => createProviderClient(profile({ batch_size: 4096 }), { env })).toThrow(
      'batch_size 4096 is more than the 2048 inputs an openai-compatible request may carry',
    );
  });

  it('describes itself without credentials', () => {
    const text = describeEmbedder(profile());
    expect(text).toBe(`openai_small: openai-compatible text-embedding-3-small, 8 dims, cosine (${fake.openaiUrl})`);
    expect(text).not.toContain('sk-test');
  });
});
