/**
 * Issue 12 item 5: what a profile's embeddings cost, from price_per_million_tokens: the backfill's
 * provider tokens in `status`, the query embeddings' in `metrics show`, and the migration's
 * candidate against its control per 1,000 searches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type Reembed } from '../../src/index.js';
import { BACKENDS, manifestProject } from '../helpers/databases.js';

const MANIFEST = `source:
  managed: true
profiles:
  cheap:
    provider: hash
    dims: 32
    price_per_million_tokens: 20
  dear:
    provider: hash
    dims: 48
    price_per_million_tokens: 130
  free:
    provider: hash
    dims: 16
environments:
  test:
    profile: cheap
`;

describe.each(BACKENDS)('embedding costs on %s', (backend) => {
  let target: string;
  let drop = async () => {};
  let config: string;
  beforeAll(async () => {
    ({ target, drop, config } = await manifestProject(backend, MANIFEST));
  });
  afterAll(() => drop());

  it('prices the backfill in status and the queries in metrics show, candidate against control', async () => {
    const rb: Reembed = await open({ config, db: target, env: { REEMBED_ENV: 'test' } });
    try {
      await rb.upsert(
        Array.from({ length: 30 }, (_, i) => ({ id: `d${i}`, content: `document ${i} about rivers and volcanoes` })),
      );
      const cheapRun = await rb.backfill.run('cheap');
      await rb.backfill.run('free');
      const status = await rb.status();
      const cheap = status.profiles.find((p) => p.profile === 'cheap')!;
      expect(cheapRun.tokens).toBeGreaterThan(0);
      expect(cheap.backfillCost.tokens).toBe(cheapRun.tokens);
      expect(cheap.backfillCost.usd).toBeCloseTo((cheapRun.tokens / 1e6) * 20, 12);
      const free = status.profiles.find((p) => p.profile === 'free')!;
      expect(free.backfillCost.tokens).toBeGreaterThan(0);
      expect(free.backfillCost.usd).toBeNull();

      const { migration } = await rb.migration.plan('dear', 'cheap');
      await rb.migration.start({ expectVersion: migration.version });
      await rb.backfill.run('dear');
      await rb.migration.shadow(0);
      await rb.migration.ramp(50);
      await rb.router.refresh();
      // Every search a new query (a repeated one is a cache hit and costs nothing), from many subjects.
      for (let i = 0; i < 40; i++) await rb.search(`rivers near volcano number ${i}`, { subject: `user-${i}` });
      await rb.search('rivers near volcano number 0', { subject: 'user-0' });
      await rb.router.metrics!.flush();
      const shown = await rb.metrics.show({ since: '1h' });
      for (const name of ['cheap', 'dear']) {
        const p = shown.profiles.find((x) => x.profile === name)!;
        expect(p.requests, name).toBeGreaterThan(0);
        // The hash provider counts words: five per query, none for the repeated one.
        expect(p.queryCost.tokens, name).toBe(5 * p.cache.misses);
        expect(p.queryCost.usd).toBeCloseTo((p.queryCost.tokens / 1e6) * (name === 'cheap' ? 20 : 130), 12);
      }
      const c = shown.costComparison!;
      expect(c).toMatchObject({ control: 'cheap', candidate: 'dear' });
      const ctl = shown.profiles.find((x) => x.profile === 'cheap')!;
      expect(c.controlUsdPerThousandSearches).toBeCloseTo((1000 * ctl.queryCost.usd!) / ctl.requests, 12);
      expect(c.ratio).toBeCloseTo(c.candidateUsdPerThousandSearches / c.controlUsdPerThousandSearches, 12);
      expect(c.ratio).toBeGreaterThan(1);
    } finally {
      await rb.close();
    }
  });
});
