/**
 * EMBEDDING_STRICT_MODE (issue 15 item 4): a process refuses to serve its profile from a store
 * that is not ready, says so in its labels and banner, and serves once the backfill is done.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, ProfileGateError } from '../../src/index.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';

const CONFIG = {
  source: { managed: true },
  profiles: { base: { provider: 'hash', dims: 32 } },
  environments: { production: { profile: 'base' } },
};
const DOCS = Array.from({ length: 12 }, (_, i) => ({ id: `d${i}`, content: `document ${i} about rivers` }));

describe.each(BACKENDS)('strict mode on %s', (backend) => {
  it('refuses to serve a store that is missing or incomplete, and serves a complete one', async () => {
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    const db = server?.url ?? join(mkdtempSync(join(tmpdir(), 'reembed-strict-')), 'data');
    const strict = { REEMBED_ENV: 'production', EMBEDDING_STRICT_MODE: 'true' };
    const relaxed = { REEMBED_ENV: 'production' };
    try {
      const loader = await open({ config: CONFIG, db, env: relaxed, router: { lazy: true } });
      await loader.upsert(DOCS);
      await loader.close();
      const refused = await open({ config: CONFIG, db, env: strict }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ProfileGateError);
      expect((refused as Error).message).toMatch(
        /EMBEDDING_STRICT_MODE is on and profile base is not ready to serve: it has no store/,
      );

      // Half the rows embedded: the backfill has not reached the rest.
      const half = await open({ config: CONFIG, db, env: relaxed, router: { lazy: true } });
      await half.backfill.run('base', { limit: 6 });
      await half.close();
      const incomplete = await open({ config: CONFIG, db, env: strict }).catch((e: unknown) => e);
      expect(incomplete).toBeInstanceOf(ProfileGateError);
      expect((incomplete as Error).message).toMatch(/backfill incomplete \(6 rows not embedded/);

      const rest = await open({ config: CONFIG, db, env: relaxed, router: { lazy: true } });
      await rest.backfill.run('base');
      await rest.close();
      const serving = await open({ config: CONFIG, db, env: strict });
      try {
        expect((await serving.search('rivers', { k: 3 })).hits).toHaveLength(3);
        expect(serving.profiles.active().banner).toMatch(/embedding_strict_mode=true/);
        expect(await serving.registry.metrics()).toMatch(
          /^reembed_embedding_profile_info\{[^}]*embedding_strict_mode="true"[^}]*\} 1$/m,
        );
      } finally {
        await serving.close();
      }
    } finally {
      await server?.drop();
    }
  });
});
