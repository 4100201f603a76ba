import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { setProfileSetting } from '../../src/config/edit-profile.js';
import { loadManifest } from '../../src/config/manifest.js';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'reembed-edit-profile-'));
}

const MANIFEST = `# top comment
profiles:
  # the baseline
  small:
    provider: hash # built in
    dims: 16
    rate_limit:
      rpm: 100
  # a flow mapping
  flow: { provider: hash, dims: 8 }
  tuned:
    provider: hash
    dims: 8
    ef_search: 10 # set by tune
  ivf:
    provider: hash
    dims: 8
    index:
      type: ivfflat # tuned below
      lists: 4

environments:
  development:  { profile: small }   # aligned by hand
`;

describe('setProfileSetting', () => {
  it('adds a key to a block mapping as one new line, leaving every other byte as it was', () => {
    const path = join(dir(), 'reembed.yaml');
    writeFileSync(path, MANIFEST);
    const edit = setProfileSetting(path, 'small', 'ef_search', 64);
    expect(edit).toEqual({ file: path, key: 'ef_search', previous: null, changed: true });
    const text = readFileSync(path, 'utf8');
    expect(text).toBe(MANIFEST.replace('      rpm: 100\n', '      rpm: 100\n    ef_search: 64\n'));
    expect(loadManifest(path).profiles.get('small')!.ef_search).toBe(64);
  });

  it('adds the line at the end of a file without a final newline', () => {
    const path = join(dir(), 'reembed.yaml');
    writeFileSync(path, 'profiles:\n  small:\n    provider: hash\n    dims: 16');
    setProfileSetting(path, 'small', 'ef_search', 64);
    expect(readFileSync(path, 'utf8')).toBe(
      'profiles:\n  small:\n    provider: hash\n    dims: 16\n    ef_search: 64\n',
    );
  });

  it('adds the line after a block scalar that ends the mapping', () => {
    const path = join(dir(), 'reembed.yaml');
    const text =
      'profiles:\n  small:\n    provider: hash\n    dims: 16\n    template: |\n      {content}\n  other: { provider: hash, dims: 8 }\n';
    writeFileSync(path, text);
    setProfileSetting(path, 'small', 'ef_search', 64);
    expect(readFileSync(path, 'utf8')).toBe(text.replace('{content}\n', '{content}\n    ef_search: 64\n'));
    expect(loadManifest(path).profiles.get('small')).toMatchObject({ ef_search: 64, template: '{content}\n' });
  });

  it('replaces an existing value in place, keeping its comment', () => {
    const path = join(dir(), 'reembed.yaml');
    writeFileSync(path, MANIFEST);
    expect(setProfileSetting(path, 'tuned', 'ef_search', 100)).toMatchObject({ previous: 10, changed: true });
    expect(readFileSync(path, 'utf8')).toBe(
      MANIFEST.replace('ef_search: 10 # set by tune', 'ef_search: 100 # set by tune'),
    );
    expect(setProfileSetting(path, 'tuned', 'ef_search', 100)).toMatchObject({ previous: 100, changed: false });
  });

  it('writes a flow mapping through the Document API, keeping comments', () => {
    const path = join(dir(), 'reembed.yaml');
    writeFileSync(path, MANIFEST);
    setProfileSetting(path, 'flow', 'ef_search', 40);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/flow: \{ provider: hash, dims: 8, ef_search: 40 \}/);
    for (const comment of ['# top comment', '# the baseline', '# built in', '# set by tune', '# aligned by hand'])
      expect(text).toContain(comment);
    expect(loadManifest(path).profiles.get('flow')!.ef_search).toBe(40);
  });

  it('writes to the include file that defines the profile', () => {
    const d = dir();
    const main = join(d, 'reembed.yaml');
    writeFileSync(main, 'include: [more/profiles.yaml]\nprofiles:\n  a: { provider: hash, dims: 8 }\n');
    const included = '# included\nprofiles:\n  b:\n    provider: hash\n    dims: 8\n';
    mkdirSync(join(d, 'more'));
    writeFileSync(join(d, 'more', 'profiles.yaml'), included);
    const edit = setProfileSetting(main, 'b', 'ef_search', 64);
    expect(edit.file).toBe(join(d, 'more', 'profiles.yaml'));
    expect(readFileSync(join(d, 'more', 'profiles.yaml'), 'utf8')).toBe(`${included}    ef_search: 64\n`);
    expect(readFileSync(main, 'utf8')).toBe(
      'include: [more/profiles.yaml]\nprofiles:\n  a: { provider: hash, dims: 8 }\n',
    );
    expect(loadManifest(main).profiles.get('b')!.ef_search).toBe(64);
  });

  it('writes a nested key (index.probes) as one new line in its block, and replaces it in place', () => {
    const path = join(dir(), 'reembed.yaml');
    writeFileSync(path, MANIFEST);
    const edit = setProfileSetting(path, 'ivf', ['index', 'probes'], 8);
    expect(edit).toEqual({ file: path, key: 'index.probes', previous: null, changed: true });
    expect(readFileSync(path, 'utf8')).toBe(MANIFEST.replace('      lists: 4\n', '      lists: 4\n      probes: 8\n'));
    expect(loadManifest(path).profiles.get('ivf')!.index).toEqual({ type: 'ivfflat', lists: 4, probes: 8 });
    expect(setProfileSetting(path, 'ivf', ['index', 'probes'], 12)).toMatchObject({ previous: 8, changed: true });
    expect(readFileSync(path, 'utf8')).toBe(MANIFEST.replace('      lists: 4\n', '      lists: 4\n      probes: 12\n'));
    // An HNSW setting on an ivfflat index does not load: refused, the file left as it was.
    const before = readFileSync(path, 'utf8');
    expect(() => setProfileSetting(path, 'ivf', 'ef_search', 40)).toThrow(/index.probes/);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('refuses an unknown profile, and restores the file when the result would not load', () => {
    const path = join(dir(), 'reembed.yaml');
    writeFileSync(path, MANIFEST);
    expect(() => setProfileSetting(path, 'nope', 'ef_search', 64)).toThrow(/profile nope is not a mapping/);
    // ef_search must be a positive whole number: 0 fails validation, and the file is left as it was.
    expect(() => setProfileSetting(path, 'small', 'ef_search', 0)).toThrow(/ef_search/);
    expect(readFileSync(path, 'utf8')).toBe(MANIFEST);
  });
});
