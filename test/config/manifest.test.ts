import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildManifest, checkProfileEnvironment, getProfile, loadManifest } from '../../src/config/manifest.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'reembed-config-'));
}

const valid = {
  profiles: {
    hash_small: { provider: 'hash', dims: 256 },
    minilm: {
      provider: 'openai-compatible',
      base_url: 'http://localhost:11434/v1',
      model: 'all-minilm',
      dims: 384,
      api_key_env: 'OPENAI_API_KEY',
    },
  },
  environments: { development: { profile: 'hash_small' }, production: { profile: 'minilm' } },
};

describe('manifest validation', () => {
  it('accepts the documented example and fills defaults', () => {
    const m = buildManifest(valid, null);
    const p = getProfile(m, 'hash_small');
    expect(p).toMatchObject({ provider: 'hash', dims: 256, metric: 'cosine', normalize: true, template: '{content}' });
    expect(p.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(m.source).toEqual({ managed: true, text: '{content}' });
    expect(m.environments.get('production')).toEqual({ profile: 'minilm' });
  });

  it('reads the shadow queue keys of router.shadow, and names a bad one', () => {
    const m = buildManifest(
      {
        ...valid,
        router: {
          shadow: { max_inflight_served: 3, max_concurrent: 2, max_queued: 16, max_age: '750ms', timeout: '2s' },
        },
      },
      null,
    );
    expect(m.router?.shadow).toEqual({
      maxInflightServed: 3,
      maxConcurrent: 2,
      maxQueued: 16,
      maxAgeMs: 750,
      timeoutMs: 2000,
    });
    const problems = problemsOf(() =>
      buildManifest({ ...valid, router: { shadow: { max_inflight_served: 0, max_queued: -1 } } }, null),
    );
    expect(problems).toEqual([
      'router.shadow.max_queued: Too small: expected number to be >=0',
      'router.shadow.max_inflight_served: Too small: expected number to be >=1',
    ]);
  });

  it('names an unknown provider', () => {
    const problems = problemsOf(() => buildManifest({ profiles: { a: { provider: 'cohere2', dims: 8 } } }, null));
    expect(problems).toEqual([
      expect.stringMatching(
        /^profiles\.a\.provider: unknown provider "cohere2" \(expected one of: hash, hash-image, openai-compatible, ollama, multimodal\)/,
      ),
    ]);
  });

  it('takes an image input: its text is the template, its columns are checked, it is in the fingerprint', () => {
    const source = { table: 'public.fonts', id: 'id', text: '{name}', columns: ['id', 'name', 'glyph', 'updated_at'] };
    const input = { text: '{name}', image: '{glyph}' };
    const manifest = buildManifest(
      {
        source,
        profiles: {
          plain: { provider: 'hash-image', dims: 8 },
          glyphs: { provider: 'hash-image', dims: 8, input },
          versioned: { provider: 'hash-image', dims: 8, input: { ...input, image_version: '{updated_at}' } },
        },
      },
      null,
    );
    const [plain, glyphs, versioned] = ['plain', 'glyphs', 'versioned'].map((n) => manifest.profiles.get(n)!);
    expect(glyphs!.template).toBe('{name}');
    expect(new Set([plain!.fingerprint, glyphs!.fingerprint, versioned!.fingerprint]).size).toBe(3);

    const problems = problemsOf(() =>
      buildManifest(
        {
          source,
          profiles: {
            both: { provider: 'hash-image', dims: 8, template: '{name}', input },
            unknown: { provider: 'hash-image', dims: 8, input: { text: '{name}', image: '{picture}' } },
          },
        },
        null,
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^profiles\.both\.template: give template or input\.text, not both/),
      expect.stringMatching(/^profiles\.unknown\.input\.image: unknown template column "picture"/),
    ]);
  });

  it('names dims out of range, one message per problem', () => {
    const problems = problemsOf(() =>
      buildManifest(
        {
          profiles: {
            a: { provider: 'hash', dims: 0 },
            b: { provider: 'hash', dims: 20000 },
            c: { provider: 'hash', dims: 1.5 },
          },
        },
        null,
      ),
    );
    expect(problems).toEqual([
      'profiles.a.dims: dims must be at least 1',
      'profiles.b.dims: dims must be at most 16000 (the pgvector limit)',
      'profiles.c.dims: dims must be a whole number',
    ]);
  });

  it('reports a duplicate profile name in the YAML and across included files', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'dup.yaml'),
      'profiles:\n  a: { provider: hash, dims: 8 }\n  a: { provider: hash, dims: 16 }\n',
    );
    expect(problemsOf(() => loadManifest(join(dir, 'dup.yaml')))[0]).toMatch(/dup\.yaml \(line 3\): duplicate key/);

    writeFileSync(
      join(dir, 'extra.yaml'),
      'profiles:\n  a: { provider: hash, dims: 32 }\n  b: { provider: hash, dims: 64 }\n',
    );
    writeFileSync(join(dir, 'main.yaml'), 'include: [extra.yaml]\nprofiles:\n  a: { provider: hash, dims: 8 }\n');
    const problems = problemsOf(() => loadManifest(join(dir, 'main.yaml')));
    expect(problems).toEqual([
      expect.stringMatching(/^profiles\.a: duplicate profile name \(defined in .*main\.yaml and .*extra\.yaml\)/),
    ]);
  });

  it('loads profiles from an included manifest file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'more.yaml'), 'profiles:\n  big: { provider: hash, dims: 1024, metric: ip }\n');
    writeFileSync(
      join(dir, 'reembed.yaml'),
      'include: [more.yaml]\nprofiles:\n  small: { provider: hash, dims: 8 }\nenvironments:\n  development: { profile: big }\n',
    );
    const m = loadManifest(join(dir, 'reembed.yaml'));
    expect([...m.profiles.keys()].sort()).toEqual(['big', 'small']);
    expect(getProfile(m, 'big').metric).toBe('ip');
  });

  it('names an unknown template column, for managed and declared attach sources', () => {
    expect(
      problemsOf(() =>
        buildManifest({ profiles: { a: { provider: 'hash', dims: 8, template: '{title}: {content}' } } }, null),
      ),
    ).toEqual(['profiles.a.template: unknown template column "title" (the source has: id, content)']);
    const attach = {
      source: { table: 'public.docs', id: 'id', text: '{title}\n\n{body}', columns: ['id', 'title', 'body'] },
    };
    expect(() => buildManifest({ ...attach, profiles: { a: { provider: 'hash', dims: 8 } } }, null)).not.toThrow();
    expect(
      problemsOf(() =>
        buildManifest({ ...attach, profiles: { a: { provider: 'hash', dims: 8, template: '{summary}' } } }, null),
      ),
    ).toEqual(['profiles.a.template: unknown template column "summary" (the source has: id, title, body)']);
  });

  it('rejects a template that is not a column placeholder', () => {
    const problems = problemsOf(() =>
      buildManifest(
        { profiles: { a: { provider: 'hash', dims: 8, template: "{content'); DROP TABLE x; --}" } } },
        null,
      ),
    );
    expect(problems[0]).toMatch(/is not a column placeholder/);
  });

  it('names a missing API key variable only for a profile that is used', () => {
    const m = buildManifest(valid, null);
    expect(checkProfileEnvironment(getProfile(m, 'minilm'), {})).toEqual([
      'profiles.minilm: the API key variable OPENAI_API_KEY is not set',
    ]);
    expect(checkProfileEnvironment(getProfile(m, 'minilm'), { OPENAI_API_KEY: 'sk-test' })).toEqual([]);
    expect(checkProfileEnvironment(getProfile(m, 'hash_small'), {})).toEqual([]);
  });

  it('names an environment pointing at an unknown profile, unknown keys, and a bad profile name', () => {
    const problems = problemsOf(() =>
      buildManifest(
        {
          profiles: { 'Bad-Name': { provider: 'hash', dims: 8 }, ok: { provider: 'hash', dims: 8, dimz: 3 } },
          environments: { production: { profile: 'nope' } },
        },
        null,
      ),
    );
    expect(problems).toEqual([
      'profiles.Bad-Name: a profile name must be 1-48 characters of a-z, 0-9 and _ and start with a letter',
      'profiles.ok: unknown key(s): dimz',
      'environments.production.profile: unknown profile "nope" (known profiles: ok)',
    ]);
  });

  it('requires a model and base_url for network providers', () => {
    const problems = problemsOf(() =>
      buildManifest(
        { profiles: { a: { provider: 'openai-compatible', dims: 8 }, b: { provider: 'ollama', dims: 8 } } },
        null,
      ),
    );
    expect(problems).toEqual([
      'profiles.a: provider openai-compatible needs a model',
      'profiles.a: provider openai-compatible needs base_url (e.g. http://localhost:11434/v1) or base_url_env',
      'profiles.b: provider ollama needs a model',
    ]);
  });

  it('reports a missing config file and invalid YAML clearly', () => {
    const dir = tempDir();
    expect(problemsOf(() => loadManifest(join(dir, 'none.yaml')))[0]).toMatch(/config file not found/);
    writeFileSync(join(dir, 'bad.yaml'), 'profiles: [unclosed\n');
    expect(problemsOf(() => loadManifest(join(dir, 'bad.yaml')))[0]).toMatch(/bad\.yaml/);
  });
});

describe('profile fingerprint', () => {
  const fp = (profile: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    getProfile(buildManifest({ ...extra, profiles: { p: profile } }, null), 'p').fingerprint;
  const base = { provider: 'openai-compatible', base_url: 'http://a:1/v1', model: 'm', dims: 8 };

  it('changes with everything that changes vectors', () => {
    const f0 = fp(base);
    for (const change of [
      { model: 'm2' },
      { dims: 16 },
      { metric: 'l2' },
      { normalize: false },
      { query_prefix: 'query: ' },
      { document_prefix: 'passage: ' },
      { template: 'doc {content}' },
      { max_input_tokens: 512 },
    ]) {
      expect(fp({ ...base, ...change }), JSON.stringify(change)).not.toBe(f0);
    }
    expect(fp({ provider: 'hash', dims: 8, hash: { seed: 1 } })).not.toBe(fp({ provider: 'hash', dims: 8 }));
  });

  it('stays the same for settings that do not change vectors', () => {
    const f0 = fp(base);
    for (const change of [
      { base_url: 'http://b:2/v1' },
      { batch_size: 10 },
      { concurrency: 1 },
      { rate_limit: { rpm: 5 } },
      { timeout_ms: 5 },
    ]) {
      expect(fp({ ...base, ...change }), JSON.stringify(change)).toBe(f0);
    }
  });
});
