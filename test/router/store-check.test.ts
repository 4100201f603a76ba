/**
 * Invariant 1 at search time: a store written under another configuration of the same profile
 * name is refused with FingerprintMismatchError (it used to return hits of the other
 * configuration's vectors), and a missing store with StoreMissingError (it used to be a raw
 * "relation does not exist").
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, ReembedError } from '../../src/index.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';

const config = (seed: number) => ({
  source: { managed: true },
  profiles: { base: { provider: 'hash', dims: 32, hash: { seed } } },
  environments: { test: { profile: 'base' } },
});

describe.each(BACKENDS)('search checks the store on %s', (backend) => {
  it('refuses a missing store and a store of another fingerprint with typed errors', async () => {
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    const db = server?.url ?? join(mkdtempSync(join(tmpdir(), 'reembed-store-check-')), 'data');
    try {
      const first = await open({ config: config(1), db, env: { REEMBED_ENV: 'test' } });
      try {
        await first.upsert([{ id: 'a', content: 'rivers and lakes' }]);
        const missing = await first.search('rivers').catch((e: unknown) => e);
        expect(missing).toBeInstanceOf(ReembedError);
        expect((missing as ReembedError).code).toBe('STORE_MISSING');
        await first.upsert([{ id: 'b', content: 'mountains' }], { sync: true });
        expect((await first.search('mountains', { k: 1 })).hits[0]!.id).toBe('b');
      } finally {
        await first.close();
      }
      // The same profile name with another hash seed: other vectors, another fingerprint.
      const second = await open({ config: config(2), db, env: { REEMBED_ENV: 'test' } });
      try {
        const mixed = await second.search('mountains').catch((e: unknown) => e);
        expect(mixed).toBeInstanceOf(ReembedError);
        expect((mixed as ReembedError).code).toBe('FINGERPRINT_MISMATCH');
        const write = await second.upsert([{ id: 'c', content: 'snow' }], { sync: true }).catch((e: unknown) => e);
        expect((write as ReembedError).code).toBe('FINGERPRINT_MISMATCH');
        // Refused before anything was written: the document is not in the source.
        expect(await second.delete(['c'])).toBe(0);
      } finally {
        await second.close();
      }
    } finally {
      await server?.drop();
    }
  });
});
