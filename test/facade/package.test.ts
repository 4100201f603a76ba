/**
 * The package's entry points as a user gets them, from the built dist/ (`npm test` builds
 * first): `reembed` by import and by require (Node >= 20.19 loads ES modules from require),
 * and `reembed/internals`. The root exports no way to write a vector past the content-hash
 * guard, and every typed error.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A directory whose node_modules/reembed is this package, as after `npm install reembed`. */
function consumer(): string {
  const dir = mkdtempSync(join(tmpdir(), 'reembed-consumer-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'reembed'), 'dir');
  return dir;
}

/** Runs a script in a consumer directory and returns what it printed as JSON. */
function run(script: string, type: 'commonjs' | 'module'): unknown {
  const out = execFileSync(process.execPath, [`--input-type=${type}`, '-e', script], {
    cwd: consumer(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

const ERROR_CLASSES = [
  'ReembedError',
  'ConfigError',
  'ProfileGateError',
  'IdentifierError',
  'DatabaseError',
  'EmbedderError',
  'RateLimitedError',
  'ProviderUnavailableError',
  'ProviderTimeoutError',
  'InvalidResponseError',
  'InputTooLongError',
  'EmptyInputError',
  'ProviderAuthError',
  'ProviderRejectedError',
  'FingerprintMismatchError',
  'StoreMissingError',
  'InvalidVectorError',
  'IndexBuildError',
  'LoadError',
  'TransitionRefusedError',
  'ConcurrentChangeError',
  'MigrationNotFoundError',
  'NoMigrationError',
  'ControllerStandby',
  'DatasetError',
  'TrecFormatError',
  'LineDecodeError',
  'ShapeError',
  'RerankWeightsError',
];

const LOW_LEVEL = [
  'writeVectors',
  'writeIfCurrent',
  'injectFaults',
  'runDemo',
  'Router',
  'Worker',
  'lifecycle',
  'ensureStore',
];

describe('the package entry points', () => {
  it('import: open, config loading and every error class; nothing low-level', () => {
    const names = run(
      `const m = await import('reembed'); console.log(JSON.stringify(Object.keys(m)))`,
      'module',
    ) as string[];
    expect(names).toContain('open');
    expect(names).toContain('loadManifest');
    expect(names).toContain('REEMBED_ERROR_CODES');
    for (const name of ERROR_CLASSES) expect(names).toContain(name);
    for (const name of LOW_LEVEL) expect(names).not.toContain(name);
  });

  it('require works on this Node (>= 20.19), with the same classes', () => {
    const result = run(
      `const r = require('reembed');
       const e = new r.TransitionRefusedError('no');
       console.log(JSON.stringify({ open: typeof r.open, instance: e instanceof r.ReembedError, code: e.code }))`,
      'commonjs',
    );
    expect(result).toEqual({ open: 'function', instance: true, code: 'TRANSITION_REFUSED' });
  });

  it('reembed/internals holds the low-level pieces', () => {
    const names = run(
      `const m = await import('reembed/internals'); console.log(JSON.stringify(Object.keys(m)))`,
      'module',
    ) as string[];
    for (const name of LOW_LEVEL) expect(names).toContain(name);
  });
});
