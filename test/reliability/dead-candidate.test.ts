/**
 * Issue 17 findings 3 and 4: a cold candidate (a tokenizer loading inside the breaker's timer)
 * was blamed, and a dead candidate under sparse traffic never tripped the breaker (its window
 * never reached the volume threshold), so every canary search waited out the timeout.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Database } from '../../src/db/database.js';
import { Controller } from '../../src/gates/controller.js';
import {
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { getMigration, type MigrationState } from '../../src/migration/state.js';
import { inCanary } from '../../src/router/bucket.js';
import { Router } from '../../src/router/router.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { scaled } from '../helpers/slowdown.js';

describe.each(BACKENDS)('a dead candidate on %s', (backend) => {
  let provider: FakeProvider;
  let db: Database;
  let ctx: LifecycleContext;
  let m: MigrationState;
  beforeAll(async () => {
    provider = await startFakeProvider({ dims: 8 });
  });
  afterAll(() => provider.close());
  beforeEach(async () => {
    provider.setFaults(undefined);
    db = await openTestDatabase(backend);
    await createArticles(db, 50);
    const manifest = articlesManifest(
      { cand: { provider: 'ollama', base_url: provider.url, model: 'cand', dims: 8, max_retries: 0 } },
      {
        // A long rolling window and a high volume threshold: the percentage alone would never open it.
        // The timeout leaves a healthy search on a busy machine room, and is well under the dead
        // provider's 5 s.
        router: { breaker: { timeout: '1500ms', volume_threshold: 1000, rolling_window: '60s', reset_timeout: '60s' } },
        rollout: {
          steps: [25, 100],
          interval: '200ms',
          step_min_duration: '1h',
          gates: [{ name: 'breaker-trips', metric: 'online.breaker_opens', max: 0, min_samples: 1, failure_limit: 1 }],
        },
      },
    );
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    await prepareBackfill(db, ctx.source, getProfile(manifest, 'small'), manifest.profiles);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'small')] });
    m = await startMigration(ctx, (await planMigration(ctx, 'small', 'cand')).migration);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'cand')] });
    m = await rampMigration(ctx, await shadowMigration(ctx, m, 0), 25);
  });
  afterEach(() => db.close());

  it('opens the breaker after 5 failures in a row, then serves the control without waiting, and is rolled back', async () => {
    const router = await new Router(db, ctx.manifest, ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: { windowMs: 60_000 },
    }).start();
    const subjects = Array.from({ length: 400 }, (_, i) => `s-${i}`).filter((s) => inCanary(m.id, s, 25));
    try {
      // Healthy first: the candidate serves its canary.
      expect((await router.search('cats', { subject: subjects[0] })).profile).toBe('cand');
      // The provider hangs: every candidate search of a new query times out (a query the candidate
      // embedded before would be answered from its query cache without the provider).
      provider.setFaults(() => ({ kind: 'slow', delayMs: 5000 }));
      const reasons: string[] = [];
      for (const subject of subjects.slice(1, 8)) {
        const res = await router.search(`cats of ${subject}`, { subject });
        expect(res).toMatchObject({ profile: 'small', fallback: true });
        reasons.push(res.fallbackReason!.kind);
      }
      // Five timeouts, then the open circuit answers at once: opossum rejects an open circuit's
      // call (EOPENBREAKER) without running it, so nothing waits for the provider.
      expect(reasons).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'timeout', 'breaker_open', 'breaker_open']);
      expect(router.breakerState('cand')).toBe('open');
      expect(router.stats.breakerOpens).toBe(1);
      // The breakdown accounts for the time lost on the candidate.
      const open = await router.search('cats and mice', { subject: subjects[9] });
      expect(open.latencyMs.total).toBeGreaterThanOrEqual(
        open.latencyMs.init + open.latencyMs.fallback + open.latencyMs.embed + open.latencyMs.search - 0.001,
      );
      await router.metrics!.flush();
    } finally {
      await router.close();
    }
    // The serving metrics say why the control answered, as the responses did.
    const served = await readServingMetrics(db, 'cand', { from: new Date(0) });
    expect(served.fallbacks).toBe(8);
    expect(served.fallbackReasons).toEqual({ timeout: 5, breaker_open: 3 });
    const controller = new Controller({ db, manifest: ctx.manifest, source: ctx.source });
    const tick = await controller.tick();
    expect(tick.tick.decision).toBe('rollback');
    expect(tick.tick.reason).toMatch(/breaker-trips/);
    expect((await getMigration(db, m.id)).phase).toBe('rolled_back');
  });

  it('does not load the tokenizer for a short query, and loads it outside the timer for a long one', async () => {
    const router = await new Router(db, ctx.manifest, ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: false,
      // A timer no tokenizer load fits in: a cold start inside it would be a timeout. Scaled by
      // REEMBED_TEST_SLOWDOWN like the search it must let through (a load slows both alike).
      breaker: { timeoutMs: scaled(250) },
    }).start();
    const subject = Array.from({ length: 400 }, (_, i) => `s-${i}`).find((s) => inCanary(m.id, s, 25))!;
    try {
      const short = await router.search('cats and dogs', { subject });
      expect(short).toMatchObject({ profile: 'cand', fallback: false });
      // Longer than max_input_tokens (8191) in bytes: the exact count is needed, loaded first.
      const long = await router.search(`cats ${'word '.repeat(2000)}`, { subject });
      expect(long).toMatchObject({ profile: 'cand', fallback: false });
      expect(router.stats.fallbacks).toBe(0);
    } finally {
      await router.close();
    }
  });
});
