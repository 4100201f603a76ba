/**
 * Issue 12 item 2, done when: a rerank A/B on live traffic (sticky arms, the kill switch) and the
 * controller reading a rerank gate. The candidate profile has a rerank stage on half its
 * subjects; its acceptance (rank 1 changed) and stage latency are gate metrics like the others.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { backfillPlanner } from '../../src/backfill/planner.js';
import type { Database } from '../../src/db/database.js';
import { Controller } from '../../src/gates/controller.js';
import {
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { inRerankArm } from '../../src/router/rerank-stage.js';
import { setRerankSwitch } from '../../src/router/rerank-switch.js';
import { Router } from '../../src/router/router.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeReranker, type FakeReranker } from '../helpers/fake-reranker.js';
import { waitFor } from '../helpers/wait.js';

describe.each(BACKENDS)('a rerank A/B and its gates on %s', (backend) => {
  let db: Database;
  let fake: FakeReranker;
  let router: Router | undefined;

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    fake = await startFakeReranker();
  });
  afterEach(async () => {
    await router?.close();
    router = undefined;
    await fake.close();
    await db.close();
  });

  async function canary() {
    await createArticles(db, 120);
    const manifest = articlesManifest(
      {
        big: {
          provider: 'hash',
          dims: 64,
          template: '{body}',
          rerank: { provider: 'http', base_url: fake.url, model: 'rr', top_n: 8, percent: 50, max_retries: 0 },
        },
      },
      {
        rollout: {
          interval: '400ms',
          step_min_duration: '1h',
          step_min_requests: 1_000_000,
          shadow_sample: 0,
          gates: [
            { name: 'acceptance', metric: 'online.rerank_acceptance', min: 0.1, interval: '1h', min_samples: 5 },
            {
              name: 'rerank-p95',
              metric: 'online.rerank_latency_p95_ms',
              max: 60_000,
              interval: '1h',
              min_samples: 5,
            },
          ],
        },
      },
    );
    const source = await articlesSource(db, manifest);
    const ctx: LifecycleContext = { db, manifest, source, actor: 'test', backfill: backfillPlanner };
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles);
    await runBackfill(db, { source, profiles: [small] });
    let m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
    await runBackfill(db, { source, profiles: [getProfile(manifest, 'big')] });
    m = await shadowMigration(ctx, m, 0);
    await rampMigration(ctx, m, 100, { force: true, reason: 'test' });
    router = await new Router(db, manifest, source, {
      defaultProfile: 'small',
      metrics: { windowMs: 60_000, instance: 'test' },
      hotDocuments: false,
      pollMs: 100,
    }).start();
    return { manifest, source };
  }

  async function traffic(r: Router, subjects: number) {
    const arms = new Map<string, string | undefined>();
    for (let i = 0; i < subjects; i++) {
      const response = await r.search(`article ${i % 9} about dogs`, { k: 3, subject: `u${i}` });
      expect(response.profile).toBe('big');
      arms.set(`u${i}`, response.rerank);
    }
    await r.metrics!.flush();
    return arms;
  }

  it('serves the rerank arm to its sticky half, and the controller reads the rerank gates', async () => {
    const { manifest, source } = await canary();
    const arms = await traffic(router!, 40);
    for (const [subject, arm] of arms) expect(arm).toBe(inRerankArm('big', subject, 50) ? 'on' : 'off');
    const on = [...arms.values()].filter((a) => a === 'on').length;
    expect(on).toBeGreaterThanOrEqual(5);
    const summary = await readServingMetrics(db, 'big', { from: new Date(0) });
    expect(summary.rerank.on).toBe(on);
    expect(summary.rerank.off).toBe(40 - on);
    expect(summary.rerank.acceptance).toBe(1);

    const report = await new Controller({ db, manifest, source }).tick();
    const acceptance = report.gates.find((g) => g.gate === 'acceptance')!;
    expect(acceptance.verdict).toBe('pass');
    expect(acceptance.candidate).toBe(1);
    // The control has no rerank stage: nothing to compare with.
    expect(acceptance.control).toBeNull();
    const p95 = report.gates.find((g) => g.gate === 'rerank-p95')!;
    expect(p95.verdict).toBe('pass');
    expect(p95.candidate).toBe(summary.rerank.latencyMs.p95);
  });

  it('fails the acceptance gate when the reranker never changes rank 1', async () => {
    const { manifest, source } = await canary();
    fake.order = 'identity';
    await traffic(router!, 40);
    const report = await new Controller({ db, manifest, source }).tick();
    const acceptance = report.gates.find((g) => g.gate === 'acceptance')!;
    expect(acceptance.candidate).toBe(0);
    expect(acceptance.verdict).toBe('fail');
  });

  it('holds (no data) once the kill switch leaves no reranked searches', async () => {
    const { manifest, source } = await canary();
    const rr = getProfile(manifest, 'big');
    const reranked = Array.from({ length: 40 }, (_, i) => `u${i}`).find((u) => inRerankArm('big', u, 50))!;
    expect(router!.rerank.arm(rr, reranked)).toBe('on');
    await setRerankSwitch(db, 'big', 'off', { actor: 'test', reason: 'kill' });
    expect(await waitFor(() => router!.rerank.arm(rr, reranked) === 'off', 1000)).toBe(true);
    const arms = await traffic(router!, 30);
    expect(new Set(arms.values())).toEqual(new Set(['off']));
    expect(fake.requests).toHaveLength(0);
    const report = await new Controller({ db, manifest, source }).tick();
    const acceptance = report.gates.find((g) => g.gate === 'acceptance')!;
    expect(acceptance.verdict).toBe('no_data');
    expect(acceptance.reason).toMatch(/samples of online\.rerank_acceptance/);
  });
});
