import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';

const CONFIG = {
  source: { managed: true },
  profiles: { base: { provider: 'hash', dims: 64 }, next: { provider: 'hash', dims: 128 } },
  environments: { test: { profile: 'base' } },
};

describe('the library API', () => {
  it('writes, searches and migrates a managed source from code', async () => {
    const rb = await open({ config: CONFIG, db: 'memory://', env: { REEMBED_ENV: 'test' }, actor: 'lib-test' });
    try {
      expect(rb.activeProfile).toBe('base');
      await rb.backfill.run('base');
      const docs = Array.from({ length: 30 }, (_, i) => ({
        id: `d${i}`,
        content: `document ${i} about ${i % 2 ? 'rivers and lakes' : 'mountains and snow'}`,
      }));
      const w = await rb.upsert(docs, { sync: true });
      expect(w).toEqual({ written: 30, embedded: 30 });
      const found = await rb.search('mountains snow', { k: 3 });
      expect(found.profile).toBe('base');
      expect(found.hits).toHaveLength(3);
      expect(found.hits.every((h) => Number(h.id.slice(1)) % 2 === 0)).toBe(true);
      // A new document is searchable on return with sync.
      await rb.upsert([{ id: 'fresh', content: 'volcano eruption lava' }], { sync: true });
      expect((await rb.search('volcano lava', { k: 1 })).hits[0]!.id).toBe('fresh');
      expect(await rb.delete(['fresh'])).toBe(1);
      expect((await rb.search('volcano lava', { k: 1 })).hits[0]!.id).not.toBe('fresh');

      const { migration } = await rb.migration.plan('next');
      await rb.migration.start();
      await rb.backfill.run('next');
      expect((await rb.backfill.coverage('next')).ratio).toBe(1);
      await rb.migration.shadow(0.5);
      await rb.migration.ramp(100);
      await rb.router.refresh();
      expect((await rb.search('rivers', { subject: 'anyone' })).profile).toBe('next');
      await rb.migration.rollback('drill');
      await rb.router.refresh();
      expect((await rb.search('rivers', { subject: 'anyone' })).profile).toBe('base');
      const history = await rb.migration.history();
      expect(history.map((e) => e.action)).toEqual(['plan', 'start', 'shadow', 'ramp', 'rollback']);
      expect(history.every((e) => e.actor === 'lib-test')).toBe(true);
      expect((await rb.migration.status())!.id).toBe(migration.id);
    } finally {
      await rb.close();
    }
  });

  it('refuses a gated profile override at open', async () => {
    await expect(
      open({
        config: { ...CONFIG, environments: { production: { profile: 'base' } } },
        db: 'memory://',
        env: { REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'next' },
      }),
    ).rejects.toThrow(/not allowed/);
  });
});
