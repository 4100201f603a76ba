/**
 * The served share of a canary step against its percentage (issue 15 item 2): computed from the
 * routers' serving windows of the step, with a warning past 5 standard errors.
 */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { canaryShare } from '../../src/telemetry/canary-share.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';

describe('canary share', () => {
  it('counts a fallback once and measures the distance in standard errors', () => {
    const s = canaryShare({
      percent: 25,
      segmentsOn: false,
      candidateRequests: 260,
      candidateFallbacks: 10,
      controlRequests: 750,
    });
    expect(s.searches).toBe(1000);
    expect(s.observed).toBeCloseTo(0.26, 12);
    expect(s.deviation).toBeCloseTo(0.01 / Math.sqrt((0.25 * 0.75) / 1000), 9);
    expect(s.warning).toBeNull();
    const off = canaryShare({
      percent: 25,
      segmentsOn: false,
      candidateRequests: 100,
      candidateFallbacks: 0,
      controlRequests: 900,
    });
    expect(off.deviation!).toBeGreaterThan(5);
    expect(off.warning).toMatch(/served 10\.0% of 1000 searches at 25%/);
  });

  it('has no expected share with segments on, and none without searches', () => {
    expect(
      canaryShare({ percent: 5, segmentsOn: true, candidateRequests: 50, candidateFallbacks: 0, controlRequests: 50 }),
    ).toMatchObject({ expected: null, deviation: null, warning: null, observed: 0.5 });
    expect(
      canaryShare({ percent: 5, segmentsOn: false, candidateRequests: 0, candidateFallbacks: 0, controlRequests: 0 }),
    ).toMatchObject({ observed: null, deviation: null, warning: null });
  });
});

const CONFIG = {
  source: { managed: true },
  profiles: { base: { provider: 'hash', dims: 32 }, next: { provider: 'hash', dims: 48 } },
  environments: { test: { profile: 'base' } },
};

describe.each(BACKENDS)('metrics show on %s', (backend) => {
  it('reports the canary step’s served share, and warns when searches without a subject skew it', async () => {
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    const rb = await open({ config: CONFIG, db: server?.url ?? 'memory://', env: { REEMBED_ENV: 'test' } });
    try {
      await rb.upsert(
        Array.from({ length: 30 }, (_, i) => ({ id: `d${i}`, content: `document ${i} about rivers` })),
        { sync: true },
      );
      await rb.backfill.run('base');
      await rb.migration.plan('next');
      await rb.migration.start();
      await rb.backfill.run('next');
      await rb.migration.shadow(0);
      await rb.migration.ramp(50);
      await rb.router.refresh();
      for (let i = 0; i < 400; i++) await rb.search('rivers', { subject: `user-${i}`, k: 1 });
      await rb.router.metrics!.flush();
      const even = (await rb.metrics.show()).canary!;
      expect(even).toMatchObject({ percent: 50, expected: 0.5, searches: 400, warning: null });
      expect(even.deviation!).toBeLessThan(5);
      // Searches without a subject always go to the control: the share drops, and it is said.
      for (let i = 0; i < 400; i++) await rb.search('rivers', { k: 1 });
      await rb.router.metrics!.flush();
      const skewed = (await rb.metrics.show()).canary!;
      expect(skewed.searches).toBe(800);
      expect(skewed.candidateSearches).toBe(even.candidateSearches);
      expect(skewed.warning).toMatch(/searches without a subject always go to the control/);
    } finally {
      await rb.close();
      await server?.drop();
    }
  });
});
