/**
 * Issue 17 finding 4: "error-rate: no data for the candidate (candidate 4 requests; min_samples
 * 20)" while the candidate failed every one of them. Sparse traffic decides a rate gate when
 * chance cannot explain it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Profile } from '../../src/config/profile.js';
import { parseRollout, type Gate } from '../../src/config/rollout.js';
import { databaseNow } from '../../src/db/clock.js';
import type { Database } from '../../src/db/database.js';
import { evaluateGate } from '../../src/gates/evaluate.js';
import { measure, wilsonLowerBound, type MeasureContext } from '../../src/gates/measure.js';
import { ServingMetricsRecorder } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe('the Wilson lower bound', () => {
  it('is 0 without failures, grows with evidence, and stays under the observed rate', () => {
    expect(wilsonLowerBound(0, 10)).toBe(0);
    expect(wilsonLowerBound(4, 4)).toBeCloseTo(0.375, 2);
    expect(wilsonLowerBound(40, 40)).toBeGreaterThan(wilsonLowerBound(4, 4));
    for (const [f, n] of [
      [1, 4],
      [3, 10],
      [50, 100],
    ] as const)
      expect(wilsonLowerBound(f, n)).toBeLessThan(f / n);
  });
});

describe.each(BACKENDS)('sparse online evidence on %s', (backend) => {
  let db: Database;
  let ctx: MeasureContext;
  let gate: Gate;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 5);
    const manifest = articlesManifest();
    const problems: string[] = [];
    gate = parseRollout(
      { gates: [{ name: 'error-rate', metric: 'online.error_rate', max_increase: 0.002, min_samples: 20 }] },
      problems,
    )!.gates[0]!;
    expect(problems).toEqual([]);
    ctx = {
      db,
      source: await articlesSource(db, manifest),
      control: getProfile(manifest, 'small') as Profile,
      candidate: getProfile(manifest, 'big') as Profile,
      migration: { id: 'm1', version: 1 },
      now: new Date(),
      evalHistory: '/nonexistent',
      annQueries: 1,
    };
  });
  afterEach(() => db.close());

  async function serve(profile: string, ok: number, failed: number): Promise<void> {
    const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
    r.setMigration({ id: 'm1', version: 1 });
    for (let i = 0; i < ok; i++) r.request(profile, { ok: true, latencyMs: 1 });
    for (let i = 0; i < failed; i++) r.request(profile, { ok: false, fallback: true });
    await r.close();
  }

  it('fails a candidate that failed 4 of 4 requests (and 1 of 4), and has no data on 0 of 4', async () => {
    await serve('small', 3, 0);
    await serve('big', 0, 4);
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    const dead = evaluateGate(gate, await measure(gate, ctx));
    expect(dead).toMatchObject({ verdict: 'fail', candidate: 1, control: 0 });
    expect(dead.reason).toMatch(/4 of 4 candidate requests failed, fewer than min_samples 20/);

    await db.query('DELETE FROM reembed.serving_metrics');
    await serve('small', 3, 0);
    await serve('big', 3, 1);
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    const unclear = evaluateGate(gate, await measure(gate, ctx));
    // 1 of 4 at 99%: the lower bound (0.03) is over 0.002, so this is still evidence.
    expect(unclear.verdict).toBe('fail');

    await db.query('DELETE FROM reembed.serving_metrics');
    await serve('small', 3, 0);
    await serve('big', 4, 0);
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    expect(evaluateGate(gate, await measure(gate, ctx)).verdict).toBe('no_data');
  });

  it('measures the mean latency of each side as a gate metric (online.latency_mean_ms)', async () => {
    const problems: string[] = [];
    const mean = parseRollout(
      { gates: [{ name: 'mean', metric: 'online.latency_mean_ms', max_ratio: 1.5, min_samples: 1 }] },
      problems,
    )!.gates[0]!;
    expect(problems).toEqual([]);
    const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
    r.setMigration({ id: 'm1', version: 1 });
    for (const ms of [10, 20, 30]) r.request('small', { ok: true, latencyMs: ms });
    for (const ms of [40, 50, 60]) r.request('big', { ok: true, latencyMs: ms });
    await r.close();
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    const m = await measure(mean, ctx);
    expect(m).toMatchObject({ candidate: 50, control: 20 });
    expect(evaluateGate(mean, m).verdict).toBe('fail');
  });

  it('holds a no_data: fail shadow gate whose samples were dropped under load, and fails it when none were', async () => {
    const problems: string[] = [];
    const shadowGate = parseRollout(
      { gates: [{ name: 'overlap', metric: 'shadow.overlap', min: 0.5, min_samples: 10, no_data: 'fail' }] },
      problems,
    )!.gates[0]!;
    expect(problems).toEqual([]);
    const shadows = async (compared: number, dropped: number) => {
      const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
      r.setMigration({ id: 'm1', version: 1 });
      for (let i = 0; i < compared; i++) r.shadow('big', { overlap: 0.9, rbo: 0.9 });
      for (let i = 0; i < dropped; i++) r.shadowDropped('big', 'too_old');
      await r.close();
    };
    await shadows(2, 30);
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    const busy = evaluateGate(shadowGate, await measure(shadowGate, ctx));
    expect(busy.verdict).toBe('no_data');
    expect(busy.reason).toMatch(/2 shadow comparisons, fewer than min_samples 10 \(30 dropped under load\)/);

    await db.query('DELETE FROM reembed.serving_metrics');
    await shadows(2, 0);
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    expect(evaluateGate(shadowGate, await measure(shadowGate, ctx)).verdict).toBe('fail');

    // Drops beside failing shadow reads: the candidate's own timeouts back the queue up, so the
    // drops excuse nothing.
    await db.query('DELETE FROM reembed.serving_metrics');
    await shadows(2, 30);
    const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
    r.setMigration({ id: 'm1', version: 1 });
    for (let i = 0; i < 5; i++) r.shadow('big', null);
    await r.close();
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    expect(evaluateGate(shadowGate, await measure(shadowGate, ctx)).verdict).toBe('fail');
  });

  it('holds the derived signals (cache hit rate, top-1 score, top-5 cosine) on too few of their own samples', async () => {
    const problems: string[] = [];
    const gates = parseRollout(
      {
        gates: [
          { name: 'hits', metric: 'online.cache_hit_rate', min: 0.5, min_samples: 10, no_data: 'fail' },
          { name: 'cos', metric: 'online.top5_pairwise_cosine', max: 0.9, min_samples: 10, no_data: 'fail' },
        ],
      },
      problems,
    )!.gates;
    expect(problems).toEqual([]);
    // 30 answered searches each, but no cache lookups (size 0) and 3 sampled cosines.
    for (const p of ['small', 'big']) {
      const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
      r.setMigration({ id: 'm1', version: 1 });
      for (let i = 0; i < 30; i++) r.request(p, { ok: true, latencyMs: 1 });
      for (let i = 0; i < 3; i++) r.quality(p, { top5Cosine: 0.99 });
      await r.close();
    }
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    for (const g of gates) {
      const result = evaluateGate(g, await measure(g, ctx));
      expect(result.verdict, g.name).toBe('no_data');
      expect(result.reason, g.name).toMatch(/samples of online\./);
    }
    // With enough samples of its own, the cosine gate judges (and 0.99 > 0.9 fails).
    const r = new ServingMetricsRecorder(db, { instance: 'test', windowMs: 60_000 });
    r.setMigration({ id: 'm1', version: 1 });
    for (let i = 0; i < 10; i++) r.quality('big', { top5Cosine: 0.99 });
    for (let i = 0; i < 10; i++) r.quality('small', { top5Cosine: 0.5 });
    await r.close();
    ctx.now = new Date((await databaseNow(db)).getTime() + 1);
    expect(evaluateGate(gates[1]!, await measure(gates[1]!, ctx)).verdict).toBe('fail');
  });
});
