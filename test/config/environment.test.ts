import { describe, expect, it } from 'vitest';
import { activeProfileName, environmentName, resolveProfile } from '../../src/config/environment.js';
import { buildManifest } from '../../src/config/manifest.js';
import { ConfigError, ProfileGateError } from '../../src/errors.js';
import { Registry } from 'prom-client';
import { registerProfileInfo, startupBanner } from '../../src/telemetry/profile-labels.js';

const manifest = buildManifest(
  {
    profiles: {
      base_a: { provider: 'hash', dims: 8 },
      cand_b: { provider: 'hash', dims: 16 },
      other_c: { provider: 'hash', dims: 32 },
    },
    environments: {
      development: { profile: 'base_a' },
      dev: { profile: 'base_a' },
      test: { profile: 'base_a' },
      staging: { profile: 'base_a' },
      production: { profile: 'base_a' },
    },
  },
  null,
);

describe('environment name', () => {
  it('prefers REEMBED_ENV, then ENV, then NODE_ENV, then development', () => {
    expect(environmentName({ REEMBED_ENV: 'staging', ENV: 'x', NODE_ENV: 'y' })).toBe('staging');
    expect(environmentName({ ENV: 'x', NODE_ENV: 'y' })).toBe('x');
    expect(environmentName({ NODE_ENV: 'y' })).toBe('y');
    expect(environmentName({})).toBe('development');
    expect(environmentName({ REEMBED_ENV: '  ', ENV: 'x' })).toBe('x');
  });
});

describe('profile gating', () => {
  const resolve = (env: NodeJS.ProcessEnv) => resolveProfile(manifest, env);

  it('uses the baseline without an override', () => {
    expect(resolve({ REEMBED_ENV: 'production' })).toMatchObject({
      baseline: 'base_a',
      override: null,
      active: 'base_a',
      violation: null,
      allowedBy: null,
    });
  });

  it.each(['development', 'dev', 'test'])('accepts any override in %s', (environment) => {
    expect(resolve({ REEMBED_ENV: environment, EMBEDDINGS_PROFILE: 'cand_b' })).toMatchObject({
      active: 'cand_b',
      allowedBy: 'development environment',
      violation: null,
    });
  });

  it.each(['staging', 'production'])('refuses a plain override in %s, naming the variables', (environment) => {
    const r = resolve({ REEMBED_ENV: environment, EMBEDDINGS_PROFILE: 'cand_b' });
    expect(r.active).toBeNull();
    expect(r.violation).toBe(
      `EMBEDDINGS_PROFILE=cand_b overrides the baseline profile base_a of environment "${environment}", which is not allowed: ` +
        'overrides are accepted only in development/dev/test environments, with EMBEDDING_PROFILE_SWAPPABLE=true, ' +
        'or with EMBEDDING_PROFILE_EXPERIMENT=cand_b',
    );
    expect(() => activeProfileName(manifest, { REEMBED_ENV: environment, EMBEDDINGS_PROFILE: 'cand_b' })).toThrow(
      ProfileGateError,
    );
  });

  it('accepts an override in production with EMBEDDING_PROFILE_SWAPPABLE=true (any case), not with other values', () => {
    expect(
      resolve({ REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'cand_b', EMBEDDING_PROFILE_SWAPPABLE: 'true' }),
    ).toMatchObject({
      active: 'cand_b',
      swappable: true,
      allowedBy: 'EMBEDDING_PROFILE_SWAPPABLE',
    });
    expect(
      resolve({ REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'cand_b', EMBEDDING_PROFILE_SWAPPABLE: 'TRUE' }).active,
    ).toBe('cand_b');
    for (const value of ['1', 'yes', 'false', '']) {
      const r = resolve({
        REEMBED_ENV: 'production',
        EMBEDDINGS_PROFILE: 'cand_b',
        EMBEDDING_PROFILE_SWAPPABLE: value,
      });
      expect(r.violation, value).toMatch(/not allowed/);
      expect(r.swappable).toBe(false);
    }
  });

  it('accepts an override in production only when EMBEDDING_PROFILE_EXPERIMENT names the same profile', () => {
    expect(
      resolve({ REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'cand_b', EMBEDDING_PROFILE_EXPERIMENT: 'cand_b' }),
    ).toMatchObject({
      active: 'cand_b',
      experiment: 'cand_b',
      allowedBy: 'EMBEDDING_PROFILE_EXPERIMENT',
    });
    const r = resolve({
      REEMBED_ENV: 'production',
      EMBEDDINGS_PROFILE: 'other_c',
      EMBEDDING_PROFILE_EXPERIMENT: 'cand_b',
    });
    expect(r.violation).toMatch(/EMBEDDING_PROFILE_EXPERIMENT=other_c \(EMBEDDING_PROFILE_EXPERIMENT is cand_b\)$/);
  });

  it('treats an override equal to the baseline as no swap in development and when swappable', () => {
    expect(resolve({ REEMBED_ENV: 'development', EMBEDDINGS_PROFILE: 'base_a' })).toMatchObject({
      active: 'base_a',
      violation: null,
      allowedBy: null,
    });
    expect(
      resolve({ REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'base_a', EMBEDDING_PROFILE_SWAPPABLE: 'true' }),
    ).toMatchObject({ active: 'base_a', violation: null });
    expect(
      resolve({ REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'base_a', EMBEDDING_PROFILE_EXPERIMENT: 'base_a' }),
    ).toMatchObject({ active: 'base_a', violation: null });
  });

  it('refuses, outside development, EMBEDDINGS_PROFILE set to the baseline while the experiment names another', () => {
    const env = { REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'base_a', EMBEDDING_PROFILE_EXPERIMENT: 'cand_b' };
    expect(resolve(env)).toMatchObject({ active: null });
    expect(resolve(env).violation).toBe(
      'EMBEDDINGS_PROFILE=base_a is set in environment "production", which is not allowed: outside development/dev/test ' +
        'environments it must equal EMBEDDING_PROFILE_EXPERIMENT (which is cand_b), unless EMBEDDING_PROFILE_SWAPPABLE=true; ' +
        'to serve the baseline base_a, unset EMBEDDINGS_PROFILE',
    );
    expect(() => activeProfileName(manifest, env)).toThrow(ProfileGateError);
    // Without an experiment at all, setting it in production is refused as well.
    expect(resolve({ REEMBED_ENV: 'staging', EMBEDDINGS_PROFILE: 'base_a' }).violation).toMatch(/\(unset\)/);
  });

  it('refuses an override naming an unknown profile with a configuration error, even in development', () => {
    const env = { REEMBED_ENV: 'development', EMBEDDINGS_PROFILE: 'nope' };
    expect(resolve(env).violation).toBe(
      'EMBEDDINGS_PROFILE=nope names no profile in the manifest (known: base_a, cand_b, other_c)',
    );
    expect(() => activeProfileName(manifest, env)).toThrow(ConfigError);
  });

  it('takes the manifest-wide default_profile for an environment without an entry, and checks it names a profile', () => {
    const withDefault = buildManifest(
      {
        profiles: { base_a: { provider: 'hash', dims: 8 }, cand_b: { provider: 'hash', dims: 16 } },
        environments: { production: { profile: 'cand_b' } },
        default_profile: 'base_a',
      },
      null,
    );
    expect(resolveProfile(withDefault, { REEMBED_ENV: 'qa' })).toMatchObject({ baseline: 'base_a', active: 'base_a' });
    // An environment's own entry still wins.
    expect(resolveProfile(withDefault, { REEMBED_ENV: 'production' })).toMatchObject({ active: 'cand_b' });
    expect(() =>
      buildManifest({ profiles: { base_a: { provider: 'hash', dims: 8 } }, default_profile: 'base' }, null),
    ).toThrow(/default_profile: unknown profile "base"/);
  });

  it('refuses an environment without a baseline, naming how to add one', () => {
    const r = resolve({ REEMBED_ENV: 'qa' });
    expect(r.violation).toMatch(
      /^environment "qa" has no baseline profile: add `environments: \{ qa: \{ profile: NAME \} \}`/,
    );
    expect(() => activeProfileName(manifest, { REEMBED_ENV: 'qa' })).toThrow(ProfileGateError);
  });

  it('exports the resolved values as telemetry labels and a banner', async () => {
    const r = resolve({
      REEMBED_ENV: 'production',
      EMBEDDINGS_PROFILE: 'cand_b',
      EMBEDDING_PROFILE_EXPERIMENT: 'cand_b',
    });
    const registry = new Registry();
    registerProfileInfo(registry, r);
    const text = await registry.metrics();
    expect(text).toContain(
      'reembed_embedding_profile_info{environment="production",embedding_profile="cand_b",embedding_profile_swappable="false",embedding_profile_experiment="cand_b",embedding_strict_mode="false",embedding_namespace_mode="shared"} 1',
    );
    expect(startupBanner(r, '9.9.9')).toBe(
      'reembed 9.9.9 · environment=production · embedding_profile=cand_b (override allowed by EMBEDDING_PROFILE_EXPERIMENT) · embedding_profile_swappable=false · embedding_profile_experiment=cand_b · embedding_strict_mode=false · embedding_namespace_mode=shared',
    );
  });
});
