/**
 * Shadow reads yield to serving (issue 16 item 3): a sampled read waits while served searches are
 * in flight, is dropped and counted when the queue is full or it waited too long, runs when
 * drainShadows asks, and never changes a response. A served search is held open by an embedder
 * the test releases, and ages are measured on a manual clock: no test depends on how fast the
 * machine is.
 */
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { backfillPlanner } from '../../src/backfill/planner.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { createEmbedder } from '../../src/embedders/create.js';
import {
  planMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { Router, type RouterOptions, type ShadowEvent } from '../../src/router/router.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/wait.js';

const HOLD = 'held open';

/** Enough turns of the event loop (and a timer) for queued background work to start, were it allowed to. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
}

describe.each(BACKENDS)('shadow reads yield to serving on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  /** Query embeddings of the candidate: each one is a shadow read reaching the candidate. */
  let candidateEmbeds = 0;
  let gate: { entered: boolean; release: () => void; opened: Promise<void> } | null = null;

  /** The control's embedding of the HOLD query waits until `release()`: a served search in flight. */
  function hold(): { release: () => void; entered: () => boolean } {
    let release!: () => void;
    const opened = new Promise<void>((r) => (release = r));
    const g = { entered: false, release, opened };
    gate = g;
    return {
      release: () => {
        gate = null;
        release();
      },
      entered: () => g.entered,
    };
  }

  const provider = (profile: Profile) => {
    const real = createEmbedder(profile);
    return {
      provider: 'hash' as const,
      embedBatch: async (texts: string[]) => {
        if (profile.name === 'cand') candidateEmbeds += texts.length;
        const g = gate;
        if (g && profile.name === 'ctrl' && texts.some((t) => t.includes(HOLD))) {
          g.entered = true;
          await g.opened;
        }
        return { vectors: (await real.embed(texts, 'query')).vectors };
      },
    };
  };

  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 60);
    const manifest = articlesManifest({
      ctrl: { provider: 'hash', dims: 8 },
      cand: { provider: 'hash', dims: 8, hash: { seed: 7 } },
    });
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    const ctrl = getProfile(manifest, 'ctrl');
    await prepareBackfill(db, ctx.source, ctrl, manifest.profiles);
    await runBackfill(db, { source: ctx.source, profiles: [ctrl] });
    const m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', 'cand')).migration);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'cand')] });
    // Every search is sampled: what decides when (and whether) a shadow read runs is the queue.
    await shadowMigration(ctx, m, 1);
  });
  afterAll(() => db.close());
  // A test that failed while holding a search lets it finish, so the next one starts quiet.
  afterEach(() => {
    gate?.release();
    gate = null;
  });

  async function router(options: Partial<RouterOptions> = {}): Promise<Router> {
    candidateEmbeds = 0;
    return new Router(db, ctx.manifest, ctx.source, {
      defaultProfile: 'ctrl',
      pollMs: 50,
      hotDocuments: false,
      embedderOptions: { provider },
      ...options,
    }).start();
  }

  /** A served search held open in the control's embedder, and the handle that lets it finish. */
  async function heldSearch(r: Router) {
    const h = hold();
    const search = r.search(`${HOLD}: cats`, { subject: 'x' });
    expect(await waitFor(h.entered, 10_000)).toBe(true);
    return {
      finish: async () => {
        h.release();
        return search;
      },
    };
  }

  it('waits while a served search is in flight, and runs when serving is quiet', async () => {
    const events: ShadowEvent[] = [];
    const r = await router({ onShadow: (e) => events.push(e) });
    try {
      const held = await heldSearch(r);
      const served = await r.search('dogs and fish', { subject: 'x' });
      expect(served.profile).toBe('ctrl');
      await settle();
      // Sampled, but serving is busy: the candidate has not been asked.
      expect(candidateEmbeds).toBe(0);
      expect(r.stats.shadowRuns).toBe(0);
      expect(events).toHaveLength(0);
      await held.finish();
      // Serving is quiet now: both samples (the held search's own too) run by themselves.
      expect(await waitFor(() => events.length === 2, 10_000)).toBe(true);
      expect(candidateEmbeds).toBe(2);
      expect(r.stats.shadowRuns).toBe(2);
      expect(events.every((e) => e.shadow === 'cand' && e.comparison !== undefined)).toBe(true);
      expect(r.stats.shadowDropped).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('runs beside fewer served searches than max_inflight_served', async () => {
    const events: ShadowEvent[] = [];
    const r = await router({ shadow: { maxInflightServed: 2 }, onShadow: (e) => events.push(e) });
    try {
      const held = await heldSearch(r);
      await r.search('dogs and fish', { subject: 'x' });
      // One served search in flight is below 2: the shadow read runs while it is still held.
      expect(await waitFor(() => events.length === 1, 10_000)).toBe(true);
      expect(candidateEmbeds).toBe(1);
      await held.finish();
      await r.drainShadows();
      expect(r.stats.shadowRuns).toBe(2);
    } finally {
      await r.close();
    }
  });

  it('a closing router drops the samples still waiting (counted as closed) instead of running them', async () => {
    const r = await router({ metrics: { windowMs: 60_000 } });
    const held = await heldSearch(r);
    for (const q of ['cats', 'dogs', 'fish']) await r.search(q, { subject: 'x' });
    await settle();
    expect(r.shadowsPending).toBe(3);
    const closing = r.close();
    await held.finish();
    await closing;
    expect(candidateEmbeds).toBe(0);
    expect(r.stats.shadowRuns).toBe(0);
    // The three that waited; the held search's own sample came after the close and was not taken.
    expect(r.stats.shadowDrops.closed).toBe(3);
  });

  it('drops and counts samples when the queue is full: stats, Prometheus and the serving metrics', async () => {
    const registry = new Registry();
    // What earlier tests' routers wrote: this test counts what its own router adds.
    const before = (await readServingMetrics(db, 'cand', { from: new Date(0) })).shadow;
    const r = await router({ shadow: { maxQueued: 2 }, registry, metrics: { windowMs: 60_000 } });
    try {
      const held = await heldSearch(r);
      for (const q of ['cats', 'dogs', 'fish', 'birds']) await r.search(q, { subject: 'x' });
      await settle();
      // Two wait; the other two found the queue full.
      expect(r.stats.shadowDrops).toEqual({ queue_full: 2, too_old: 0, closed: 0 });
      expect(r.stats.shadowDropped).toBe(2);
      expect(candidateEmbeds).toBe(0);
      const metric = await registry.getSingleMetric('reembed_shadow_dropped_total')!.get();
      expect(metric.values).toEqual([{ labels: { candidate: 'cand', reason: 'queue_full' }, value: 2 }]);
      await held.finish();
      await r.drainShadows();
      // The two that waited ran; the held search's own sample found the queue still full.
      expect(r.stats.shadowRuns).toBe(2);
      expect(candidateEmbeds).toBe(2);
      expect(r.stats.shadowDrops).toEqual({ queue_full: 3, too_old: 0, closed: 0 });
      await r.metrics!.flush();
      const after = (await readServingMetrics(db, 'cand', { from: new Date(0) })).shadow;
      expect(after.compared - before.compared).toBe(2);
      expect(after.dropped - before.dropped).toBe(3);
      expect((after.droppedReasons.queue_full ?? 0) - (before.droppedReasons.queue_full ?? 0)).toBe(3);
    } finally {
      await r.close();
    }
  });

  it('drops and counts a sample that waited longer than max_age', async () => {
    const clock = new ManualClock();
    const events: ShadowEvent[] = [];
    const r = await router({ shadow: { maxAgeMs: 1000 }, now: clock.now, onShadow: (e) => events.push(e) });
    try {
      const held = await heldSearch(r);
      await r.search('cats', { subject: 'x' });
      clock.advance(1000);
      await settle();
      // Exactly max_age old is not too old yet.
      await r.search('dogs', { subject: 'x' });
      expect(r.stats.shadowDrops.too_old).toBe(0);
      clock.advance(1);
      await held.finish();
      // The first sample is 1,001 ms old when serving is quiet again; the second and the held
      // search's own are younger.
      expect(await waitFor(() => events.length === 2, 10_000)).toBe(true);
      await r.drainShadows();
      expect(r.stats.shadowDrops).toEqual({ queue_full: 0, too_old: 1, closed: 0 });
      expect(r.stats.shadowRuns).toBe(2);
    } finally {
      await r.close();
    }
  });

  it('drainShadows runs what waits, even while serving is busy, and waits for all of it', async () => {
    const events: ShadowEvent[] = [];
    const r = await router({ shadow: { maxConcurrent: 1 }, onShadow: (e) => events.push(e) });
    try {
      const held = await heldSearch(r);
      for (const q of ['cats', 'dogs', 'fish']) await r.search(q, { subject: 'x' });
      await settle();
      expect(events).toHaveLength(0);
      // One at a time (max_concurrent 1), and drain resolves only when the third has run.
      await r.drainShadows();
      expect(events).toHaveLength(3);
      expect(r.stats.shadowRuns).toBe(3);
      await held.finish();
      await r.drainShadows();
      expect(r.stats.shadowRuns).toBe(4);
      expect(r.stats.shadowDropped).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('never changes a response: the same hits with shadow reads off, queued, or dropped', async () => {
    const off = await router({ shadow: { enabled: false } });
    const queued = await router();
    const dropping = await router({ shadow: { maxQueued: 0 } });
    try {
      for (const q of ['cats', 'dogs and fish', 'birds', 'article 7', 'title 12']) {
        const a = await off.search(q, { subject: 'x' });
        const b = await queued.search(q, { subject: 'x' });
        const c = await dropping.search(q, { subject: 'x' });
        expect(a.hits.length).toBeGreaterThan(0);
        for (const other of [b, c]) {
          expect(other.hits).toEqual(a.hits);
          expect(other.profile).toBe(a.profile);
          expect(other.fallback).toBe(false);
        }
      }
      await queued.drainShadows();
      await dropping.drainShadows();
      expect(off.stats.shadowRuns + off.stats.shadowDropped).toBe(0);
      expect(queued.stats.shadowRuns).toBe(5);
      expect(dropping.stats.shadowDrops.queue_full).toBe(5);
      expect(dropping.stats.shadowRuns).toBe(0);
    } finally {
      await off.close();
      await queued.close();
      await dropping.close();
    }
  });
});
