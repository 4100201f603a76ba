import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { databaseNow } from '../../src/db/clock.js';
import type { Database } from '../../src/db/database.js';
import { bucketOf, bucketUpperBound, emptyHistogram, quantile, BUCKET_COUNT } from '../../src/telemetry/histogram.js';
import {
  readServingMetrics,
  ServingMetricsRecorder,
  SERVING_METRICS_TABLE,
} from '../../src/telemetry/serving-metrics.js';
import { seededRandom } from '../../src/random.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe('latency histogram', () => {
  it('puts a value in the bucket whose bounds hold it', () => {
    for (const ms of [0, 0.05, 0.1, 0.11, 1, 7.3, 100, 12_345, 1e9]) {
      const i = bucketOf(ms);
      expect(ms).toBeLessThanOrEqual(bucketUpperBound(i));
      if (i > 0) expect(ms).toBeGreaterThan(bucketUpperBound(i - 1));
    }
    expect(bucketOf(1e9)).toBe(BUCKET_COUNT - 1);
  });

  it('gives quantiles within 5% of the exact ones on a skewed sample', () => {
    const random = seededRandom(7);
    const values = Array.from({ length: 20_000 }, () => 5 + 200 * random() ** 4);
    const h = emptyHistogram();
    for (const v of values) h[bucketOf(v)]!++;
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      expect(Math.abs(quantile(h, q)! - exact) / exact).toBeLessThan(0.05);
    }
    expect(quantile(emptyHistogram(), 0.5)).toBeNull();
  });
});

describe.each(BACKENDS)('serving metrics on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
  });
  afterEach(() => db.close());
  /**
   * A moment just before the database's clock: windows written after the call are counted. (PGlite's
   * clock has millisecond resolution, so a window written in the same millisecond has the same stamp.)
   */
  const dbNow = async () => {
    const { rows } = await db.query<{ now: Date | string }>('SELECT clock_timestamp() AS now');
    return new Date(new Date(rows[0]!.now).getTime() - 1);
  };

  it('sums the windows of every instance, and computes rates and quantiles from the sum', async () => {
    // Ranges are on the database's clock (when windows were written).
    const from = await dbNow();
    const a = new ServingMetricsRecorder(db, { instance: 'a', windowMs: 60_000 });
    const b = new ServingMetricsRecorder(db, { instance: 'b', windowMs: 60_000 });
    for (let i = 0; i < 90; i++) a.request('cand', { ok: true, latencyMs: 10 });
    for (let i = 0; i < 10; i++) b.request('cand', { ok: true, latencyMs: 100 });
    for (let i = 0; i < 5; i++) b.request('cand', { ok: false, fallback: true });
    b.request('ctrl', { ok: false, fallback: false });
    a.breakerOpened('cand');
    a.shadow('cand', { overlap: 0.8, rbo: 0.7 });
    a.shadow('cand', { overlap: 0.6, rbo: 0.5 });
    a.shadow('cand', null);
    await a.close();
    await b.flush();
    // A second window of the same instance adds up with the first.
    b.request('cand', { ok: true, latencyMs: 10 });
    await b.close();

    const s = await readServingMetrics(db, 'cand', { from });
    expect(s).toMatchObject({ instances: 2, requests: 106, errors: 5, fallbacks: 5, breakerOpens: 1 });
    expect(s.errorRate).toBeCloseTo(5 / 106, 10);
    // Within the 10% width of the bucket that holds the true value (10 ms, then 100 ms).
    expect(s.latencyMs.p50).toBeGreaterThan(9);
    expect(s.latencyMs.p50).toBeLessThan(11);
    expect(s.latencyMs.p95).toBeGreaterThan(90);
    expect(s.latencyMs.p95).toBeLessThan(110);
    expect(s.latencyMs.mean).toBeCloseTo((91 * 10 + 10 * 100) / 101, 6);
    expect(s.shadow).toEqual({
      compared: 2,
      errors: 1,
      overlap: 0.7,
      rbo: expect.closeTo(0.6, 10),
      dropped: 0,
      droppedReasons: {},
    });
    const ctrl = await readServingMetrics(db, 'ctrl', { from });
    expect(ctrl).toMatchObject({ requests: 1, errors: 1, fallbacks: 0, errorRate: 1 });
    expect(ctrl.latencyMs.p95).toBeNull();
    // Windows written before `from` are left out (the clock rounded up: the last window may have
    // been stamped within the same millisecond).
    expect((await readServingMetrics(db, 'cand', { from: await databaseNow(db) })).requests).toBe(0);
  });

  it('counts fallbacks and shadow drops by reason, and adds the reasons up when a window is written twice', async () => {
    const from = await dbNow();
    // Two recorders of one instance whose windows start in the same millisecond: the second
    // write of the window adds to the first (the table's key), reasons included.
    vi.useFakeTimers({ toFake: ['Date'] });
    let a: ServingMetricsRecorder;
    let b: ServingMetricsRecorder;
    try {
      a = new ServingMetricsRecorder(db, { instance: 'same', windowMs: 60_000 });
      b = new ServingMetricsRecorder(db, { instance: 'same', windowMs: 60_000 });
    } finally {
      vi.useRealTimers();
    }
    a.request('cand', { ok: false, fallback: true, reason: { kind: 'timeout' } });
    a.request('cand', { ok: false, fallback: true, reason: { kind: 'error', code: 'PROVIDER_ERROR' } });
    a.request('cand', { ok: false, fallback: false });
    b.request('cand', { ok: false, fallback: true, reason: { kind: 'timeout' } });
    b.request('cand', { ok: false, fallback: true, reason: { kind: 'breaker_open' } });
    b.request('cand', { ok: false, fallback: true, reason: { kind: 'error' } });
    a.shadowDropped('cand', 'queue_full');
    a.shadowDropped('cand', 'too_old');
    b.shadowDropped('cand', 'queue_full');
    await a.close();
    await b.close();
    const s = await readServingMetrics(db, 'cand', { from });
    expect(s).toMatchObject({ windows: 1, instances: 1, requests: 6, errors: 6, fallbacks: 5 });
    expect(s.fallbackReasons).toEqual({ timeout: 2, 'error:PROVIDER_ERROR': 1, breaker_open: 1, error: 1 });
    expect(s.shadow).toMatchObject({ dropped: 3, droppedReasons: { queue_full: 2, too_old: 1 } });
  });

  it('counts each window under the migration state it was served in', async () => {
    const from = await dbNow();
    const r = new ServingMetricsRecorder(db, { instance: 'x', windowMs: 60_000 });
    r.setMigration({ id: 'm1', version: 3 });
    r.request('cand', { ok: true, latencyMs: 3 });
    r.setMigration({ id: 'm1', version: 3 }); // the same state: the window goes on
    r.request('cand', { ok: true, latencyMs: 3 });
    r.setMigration({ id: 'm1', version: 4 }); // a new step: a new window
    for (let i = 0; i < 5; i++) r.request('cand', { ok: false, fallback: true });
    await r.close();
    expect((await readServingMetrics(db, 'cand', { from, migration: { id: 'm1', version: 3 } })).requests).toBe(2);
    const v4 = await readServingMetrics(db, 'cand', { from, migration: { id: 'm1', version: 4 } });
    expect(v4).toMatchObject({ requests: 5, errors: 5 });
    expect((await readServingMetrics(db, 'cand', { from })).requests).toBe(7);
  });

  it('keeps a window whose write failed and writes it later, visible to measurements after the outage', async () => {
    const errors: unknown[] = [];
    const r = new ServingMetricsRecorder(db, { instance: 'x', windowMs: 60_000, onError: (e) => errors.push(e) });
    r.request('cand', { ok: true, latencyMs: 3 });
    await db.exec(`ALTER TABLE ${SERVING_METRICS_TABLE} RENAME TO serving_metrics_away`);
    await r.flush();
    expect(errors).toHaveLength(1);
    await db.exec(`ALTER TABLE reembed.serving_metrics_away RENAME TO serving_metrics`);
    const afterOutage = await dbNow();
    r.request('cand', { ok: true, latencyMs: 3 });
    await r.close();
    // Both windows, each under its own start, written after the outage ended.
    expect((await readServingMetrics(db, 'cand', { from: afterOutage })).requests).toBe(2);
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SERVING_METRICS_TABLE}`);
    expect(rows[0]!.n).toBe(2);
  });
});
