/** `base_url_env` (issue 15 item 4): a provider's address from the environment, read when used. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, checkProfileEnvironment, getProfile } from '../../src/config/manifest.js';
import { createEmbedder } from '../../src/embedders/create.js';
import { ConfigError } from '../../src/errors.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';

const manifest = (profile: Record<string, unknown>) =>
  buildManifest(
    { profiles: { remote: { provider: 'ollama', model: 'm', dims: 8, max_retries: 0, ...profile } } },
    null,
  );

describe('base_url_env', () => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 8 });
  });
  afterAll(() => fake.close());

  it('embeds through the address the variable holds, with the fingerprint base_url would have', async () => {
    const fromEnv = getProfile(manifest({ base_url_env: 'EMBED_URL' }), 'remote');
    const inline = getProfile(manifest({ base_url: fake.url }), 'remote');
    expect(fromEnv.fingerprint).toBe(inline.fingerprint);
    const result = await createEmbedder(fromEnv, { env: { EMBED_URL: fake.url } }).embed(['hello'], 'document');
    expect(result.vectors[0]).toHaveLength(8);
    expect(fake.requests).toHaveLength(1);
    expect(checkProfileEnvironment(fromEnv, { EMBED_URL: fake.url })).toEqual([]);
  });

  it('refuses an unset or malformed variable with a ConfigError that does not print its value', () => {
    const profile = getProfile(manifest({ base_url_env: 'EMBED_URL' }), 'remote');
    expect(() => createEmbedder(profile, { env: {} })).toThrow(/base_url_env EMBED_URL is not set/);
    const secret = 'not a url with token s3cr3t';
    const bad = (() => {
      try {
        createEmbedder(profile, { env: { EMBED_URL: secret } });
      } catch (error) {
        return error;
      }
    })();
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as Error).message).toMatch(/does not hold a URL/);
    expect((bad as Error).message).not.toContain('s3cr3t');
    expect(() => createEmbedder(profile, { env: { EMBED_URL: 'ftp://host/x' } })).toThrow(/http\(s\) URL/);
    expect(checkProfileEnvironment(profile, {})).toEqual(['profiles.remote: base_url_env EMBED_URL is not set']);
  });

  it('refuses base_url and base_url_env together, and accepts base_url_env for openai-compatible', () => {
    expect(() => manifest({ base_url: 'http://x', base_url_env: 'EMBED_URL' })).toThrow(
      /give base_url or base_url_env, not both/,
    );
    expect(() =>
      buildManifest(
        { profiles: { o: { provider: 'openai-compatible', model: 'm', dims: 8, base_url_env: 'EMBED_URL' } } },
        null,
      ),
    ).not.toThrow();
    expect(() =>
      buildManifest({ profiles: { o: { provider: 'openai-compatible', model: 'm', dims: 8 } } }, null),
    ).toThrow(/needs base_url .* or base_url_env/);
  });
});
