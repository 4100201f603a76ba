/**
 * EMBEDDING_NAMESPACE_MODE (issue 15 item 4): `shared` stores serve every environment on the
 * database; `isolated`, the first environment to serve a profile claims its store and another
 * environment's isolated process refuses it until the claim is released.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceMode } from '../../src/config/environment.js';
import { ConfigError, open, ProfileGateError } from '../../src/index.js';
import { BACKENDS, manifestProject } from '../helpers/databases.js';

const MANIFEST = `source:
  managed: true
profiles:
  base:
    provider: hash
    dims: 16
environments:
  staging: { profile: base }
  production: { profile: base }
`;

describe('EMBEDDING_NAMESPACE_MODE', () => {
  it('is shared by default, isolated when asked, and refuses anything else', () => {
    expect(namespaceMode({})).toBe('shared');
    expect(namespaceMode({ EMBEDDING_NAMESPACE_MODE: ' Isolated ' })).toBe('isolated');
    expect(namespaceMode({ EMBEDDING_NAMESPACE_MODE: 'shared' })).toBe('shared');
    expect(() => namespaceMode({ EMBEDDING_NAMESPACE_MODE: 'per-env' })).toThrow(ConfigError);
  });
});

describe.each(BACKENDS)('namespace modes on %s', (backend) => {
  let target: string;
  let drop = async () => {};
  let config: string;
  beforeAll(async () => {
    ({ target, drop, config } = await manifestProject(backend, MANIFEST));
  });
  afterAll(() => drop());

  const openIn = (environment: string, mode?: string) =>
    open({
      config,
      db: target,
      env: { REEMBED_ENV: environment, ...(mode ? { EMBEDDING_NAMESPACE_MODE: mode } : {}) },
    });

  it('lets the first isolated environment claim a store, refuses another, and serves it again once released', async () => {
    const staging = await openIn('staging', 'isolated');
    try {
      expect(staging.profiles.active().banner).toContain('embedding_namespace_mode=isolated');
      expect(await staging.registry.metrics()).toMatch(/embedding_namespace_mode="isolated"/);
    } finally {
      await staging.close();
    }
    // Staging again: its own claim.
    await (await openIn('staging', 'isolated')).close();

    const refused = openIn('production', 'isolated');
    await expect(refused).rejects.toThrow(ProfileGateError);
    await expect(refused).rejects.toThrow(/belongs to environment "staging".*reembed profiles release base/);

    // A shared process never looks at claims.
    const shared = await openIn('production');
    try {
      expect(shared.profiles.active().resolution.namespace).toBe('shared');
      expect(await shared.profiles.release('base')).toEqual({ profile: 'base', environment: 'staging' });
      expect(await shared.profiles.release('base')).toEqual({ profile: 'base', environment: null });
    } finally {
      await shared.close();
    }
    // Released: production claims it now, and staging is the one refused.
    await (await openIn('production', 'isolated')).close();
    await expect(openIn('staging', 'isolated')).rejects.toThrow(/belongs to environment "production"/);
  });
});
