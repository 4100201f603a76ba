import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProfileInput } from '../../src/config/profile.js';
import { createEmbedder, createProviderClient, describeEmbedder } from '../../src/embedders/create.js';
import { ProviderAuthError, ProviderRejectedError } from '../../src/embedders/errors.js';
import { fakeVector, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeProfile, recordingSleep } from './profile-helper.js';

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider({ dims: 6 });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  fake.setFaults(undefined);
});

function profile(overrides: Partial<ProfileInput> = {}) {
  return makeProfile(
    { provider: 'ollama', model: 'nomic-embed-text', dims: 6, base_url: fake.url, ...overrides },
    'nomic',
  );
}

describe('ollama provider', () => {
  it('speaks POST /api/embed and reads embeddings and prompt_eval_count', async () => {
    const embedder = createEmbedder(profile({ normalize: false }));
    const result = await embedder.embed(['why is the sky blue', 'because'], 'document');
    const [request] = fake.requests;
    expect(request!.path).toBe('/api/embed');
    expect(request!.body).toEqual({
      model: 'nomic-embed-text',
      input: ['why is the sky blue', 'because'],
      truncate: true,
    });
    expect(request!.headers.authorization).toBeUndefined();
    expect(result.usage.tokens).toBe(6);
    expect(Array.from(result.vectors[1]!)).toEqual(Array.from(Float32Array.from(fakeVector('because', 6))));
  });

  it('asks Ollama not to truncate under on_too_long: fail, and sends dimensions when asked', async () => {
    await createEmbedder(profile({ on_too_long: 'fail', dims: 3, send_dimensions: true })).embed(['x'], 'query');
    expect(fake.requests[0]!.body).toEqual({ model: 'nomic-embed-text', input: ['x'], truncate: false, dimensions: 3 });
  });

  it('sends a bearer key when api_key_env names one (Ollama behind a proxy)', async () => {
    await createEmbedder(profile({ api_key_env: 'OLLAMA_KEY' }), { env: { OLLAMA_KEY: 'k1' } }).embed(['x'], 'query');
    expect(fake.requests[0]!.headers.authorization).toBe('Bearer k1');
  });

  it("puts Ollama's error message in a non-retried rejection", async () => {
    fake.setFaults(() => ({
      kind: 'status',
      status: 404,
      body: '{"error":"model \\"nomic-embed-text\\" not found, try pulling it first"}',
    }));
    const failure = createEmbedder(profile(), { sleep: recordingSleep().sleep }).embed(['x'], 'document');
    await expect(failure).rejects.toBeInstanceOf(ProviderRejectedError);
    await expect(failure).rejects.toThrow(
      'profile nomic: provider rejected the request, HTTP 404: model "nomic-embed-text" not found, try pulling it first',
    );
    expect(fake.requests).toHaveLength(1);
  });

  it('reads an error object from a proxy in front of Ollama (a 401), never "[object Object]"', async () => {
    fake.setFaults(() => ({ kind: 'status', status: 401, body: '{"error":{"message":"invalid api key"}}' }));
    const failure = createEmbedder(profile(), { sleep: recordingSleep().sleep }).embed(['x'], 'document');
    await expect(failure).rejects.toBeInstanceOf(ProviderAuthError);
    await expect(failure).rejects.toThrow(/HTTP 401: invalid api key/);
    await expect(failure).rejects.not.toThrow(/object Object/);
  });

  it('defaults to http://localhost:11434', () => {
    const noUrl = makeProfile({ provider: 'ollama', model: 'nomic-embed-text', dims: 6 }, 'nomic');
    expect(createProviderClient(noUrl).endpoint).toBe('http://localhost:11434/api/embed');
    expect(describeEmbedder(noUrl)).toBe('nomic: ollama nomic-embed-text, 6 dims, cosine (http://localhost:11434)');
  });
});
