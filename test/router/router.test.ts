import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Database } from '../../src/db/database.js';
import {
  cutoverMigration,
  planMigration,
  rampMigration,
  rollbackMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import type { MigrationState } from '../../src/migration/state.js';
import { inCanary } from '../../src/router/bucket.js';
import { Router, type ShadowEvent } from '../../src/router/router.js';
import { jitSummary } from '../../src/backfill/jit.js';
import { databaseNow } from '../../src/db/clock.js';
import { QUEUE_TABLE } from '../../src/source/capture.js';
import { articlesManifest, articlesSource, createArticles, getProfile, sleep } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { waitFor } from '../helpers/wait.js';
import { backfillPlanner } from '../../src/backfill/planner.js';

const subjects = Array.from({ length: 200 }, (_, i) => `user-${i}`);

describe.each(BACKENDS)('router on %s', (backend) => {
  let db: Database;
  let fast: FakeProvider;
  let slow: FakeProvider;
  let ctx: LifecycleContext;
  beforeAll(async () => {
    fast = await startFakeProvider({ dims: 8 });
    slow = await startFakeProvider({ dims: 8, latencyMs: 1000 });
  });
  afterAll(async () => {
    await fast.close();
    await slow.close();
  });
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    fast.setFaults({});
    await createArticles(db, 200);
    const manifest = articlesManifest({
      ctrl: { provider: 'ollama', base_url: fast.url, model: 'control', dims: 8 },
      cand: { provider: 'ollama', base_url: fast.url, model: 'candidate', dims: 8, template: '{body}', max_retries: 0 },
      cand_slow: {
        provider: 'ollama',
        base_url: slow.url,
        model: 'slow',
        dims: 8,
        template: '{body} ',
        timeout_ms: 5000,
      },
    });
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    await prepareBackfill(db, ctx.source, getProfile(manifest, 'ctrl'), manifest.profiles);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'ctrl')] });
  });
  afterEach(() => db.close());

  async function migrateTo(candidate: string, backfill = true): Promise<MigrationState> {
    const m = await startMigration(ctx, (await planMigration(ctx, 'ctrl', candidate)).migration);
    if (backfill) await runBackfill(db, { source: ctx.source, profiles: [getProfile(ctx.manifest, candidate)] });
    return m;
  }

  const router = (options: Partial<ConstructorParameters<typeof Router>[3]> = {}) =>
    new Router(db, ctx.manifest, ctx.source, { defaultProfile: 'ctrl', pollMs: 50, ...options }).start();

  it('serves the default profile without a migration, and the canary by sticky buckets', async () => {
    const r = await router();
    try {
      expect((await r.search('cats and dogs', { subject: 'u1' })).profile).toBe('ctrl');
      let m = await shadowMigration(ctx, await migrateTo('cand'), 0);
      m = await rampMigration(ctx, m, 25);
      await r.refresh();
      const at25 = new Set(subjects.filter((s) => r.route(s).serving === 'cand'));
      expect([...at25].sort()).toEqual(subjects.filter((s) => inCanary(m.id, s, 25)).sort());
      expect(at25.size).toBeGreaterThan(20);
      expect(at25.size).toBeLessThan(80);
      const res = await r.search('cats', { subject: [...at25][0]!, k: 5 });
      expect(res).toMatchObject({
        profile: 'cand',
        fallback: false,
        migration: { id: m.id, phase: 'canary', percent: 25 },
      });
      expect(res.hits).toHaveLength(5);
      expect(res.latencyMs.total).toBeGreaterThanOrEqual(res.latencyMs.embed + res.latencyMs.search - 0.001);
      expect(r.route(undefined).serving).toBe('ctrl');
      expect(r.route('').serving).toBe('ctrl');
      m = await rampMigration(ctx, m, 50);
      await r.refresh();
      for (const s of at25) expect(r.route(s).serving).toBe('cand');
      m = await cutoverMigration(ctx, m);
      await r.refresh();
      expect(subjects.every((s) => r.route(s).serving === 'cand')).toBe(true);
    } finally {
      await r.close();
    }
  });

  // How soon every instance follows (invariant 5: within a second) is measured across processes
  // in propagation.test.ts; here, that this one follows at all, and what it keeps without a database.
  it('follows a rollback, and keeps the last state when the database is gone', async () => {
    const r = await router();
    try {
      const m = await rampMigration(ctx, await shadowMigration(ctx, await migrateTo('cand'), 0), 100);
      await waitFor(() => r.route('u1').serving === 'cand', 5000);
      expect(r.route('u1').serving).toBe('cand');
      await rollbackMigration(ctx, m, 'test');
      await waitFor(() => r.route('u1').serving === 'ctrl', 3000);
      expect(r.route('u1').serving).toBe('ctrl');
      // A read that fails keeps the last known state.
      const broken = new Router(
        { ...db, query: async () => Promise.reject(new Error('database unreachable')) } as Database,
        ctx.manifest,
        ctx.source,
        { defaultProfile: 'ctrl' },
      );
      await expect(broken.start()).rejects.toThrow('database unreachable');
      const errors: unknown[] = [];
      const flaky = await router({ onBackgroundError: (e) => errors.push(e) });
      const watcher = flaky as unknown as { watcher: { db: Database } };
      const real = watcher.watcher.db;
      watcher.watcher.db = { ...real, query: async () => Promise.reject(new Error('gone')) } as Database;
      await waitFor(() => errors.length > 0, 5000);
      expect(errors.length).toBeGreaterThan(0);
      expect(flaky.migration()?.phase).toBe('rolled_back');
      expect(flaky.route('u1').serving).toBe('ctrl');
      await flaky.close();
    } finally {
      await r.close();
    }
  });

  it('follows transitions through NOTIFY alone, without waiting for a poll', async () => {
    // A minute between polls: only the notification can bring the change before the wait's
    // deadline (3 s, scaled by REEMBED_TEST_SLOWDOWN), so seeing it at all proves the NOTIFY path.
    const r = await router({ pollMs: 60_000 });
    try {
      const m = await rampMigration(ctx, await shadowMigration(ctx, await migrateTo('cand'), 0), 100);
      await waitFor(() => r.migration()?.version === m.version, 3000);
      expect(r.migration()).toMatchObject({ id: m.id, phase: 'canary', percent: 100 });
      await rollbackMigration(ctx, m, 'notify');
      await waitFor(() => r.route('u1').serving === 'ctrl', 3000);
      expect(r.route('u1').serving).toBe('ctrl');
    } finally {
      await r.close();
    }
  });

  it('never changes results or waits for shadow reads, and a throwing observer never surfaces', async () => {
    const events: ShadowEvent[] = [];
    const errors: unknown[] = [];
    const plain = await router({ hotDocuments: false, shadow: { enabled: false } });
    const shadowed = await router({
      hotDocuments: false,
      // The samples wait while the loop below keeps a search in flight: none may age out on a busy machine.
      shadow: { timeoutMs: 5000, maxConcurrent: 50, maxAgeMs: 600_000 },
      onShadow: (e) => {
        events.push(e);
        throw new Error('observer bug');
      },
      onBackgroundError: (e) => errors.push(e),
    });
    try {
      await shadowMigration(ctx, await migrateTo('cand_slow'), 1);
      await shadowed.refresh();
      await plain.refresh();
      const queries = ['cats', 'dogs and fish', 'birds', 'article 7', 'title 12'];
      for (const [i, q] of queries.entries()) {
        const a = await shadowed.search(q, { subject: 'x' });
        // The candidate answers in 1 s; a served search never waits for it: its own shadow read
        // has not finished when it returns (an order of events, not a time a busy machine can miss).
        expect(events.length).toBeLessThanOrEqual(i);
        const b = await plain.search(q, { subject: 'x' });
        expect(a.profile).toBe('ctrl');
        expect(a.hits).toEqual(b.hits);
      }
      await waitFor(() => events.length >= queries.length, 10_000);
      expect(events).toHaveLength(queries.length);
      expect(plain.stats.shadowRuns + plain.stats.shadowErrors).toBe(0);
      expect(events.every((e) => e.shadow === 'cand_slow' && e.comparison && e.latencyMs >= 950)).toBe(true);
      expect(errors.some((e) => (e as Error).message === 'observer bug')).toBe(true);
    } finally {
      await shadowed.close();
      await plain.close();
    }
  });

  it('falls back to the control when the candidate fails, opens the circuit, and recovers', async () => {
    const r = await router({
      breaker: { volumeThreshold: 3, resetTimeoutMs: 300, errorThresholdPercentage: 50, timeoutMs: 2000 },
      hotDocuments: false,
    });
    try {
      await rampMigration(ctx, await shadowMigration(ctx, await migrateTo('cand'), 0), 100);
      await r.refresh();
      fast.setFaults((req) =>
        (req.body as { model?: string }).model === 'candidate' ? { kind: 'status', status: 500 } : null,
      );
      for (let i = 0; i < 8; i++) {
        const res = await r.search('cats', { subject: `s${i}` });
        expect(res).toMatchObject({ profile: 'ctrl', fallback: true });
        expect(res.hits.length).toBeGreaterThan(0);
      }
      expect(r.breakerState('cand')).toBe('open');
      expect(r.stats.breakerOpens).toBeGreaterThanOrEqual(1);
      const before = fast.requests.filter((q) => (q.body as { model?: string }).model === 'candidate').length;
      await r.search('cats', { subject: 'open-circuit' });
      // An open circuit does not even call the candidate.
      expect(fast.requests.filter((q) => (q.body as { model?: string }).model === 'candidate').length).toBe(before);
      fast.setFaults({});
      await sleep(350);
      const healed = await r.search('cats', { subject: 'after' });
      expect(healed).toMatchObject({ profile: 'cand', fallback: false });
      expect(r.breakerState('cand')).toBe('closed');
    } finally {
      await r.close();
    }
  });

  it('queues documents the control returns but the candidate lacks, at high priority', async () => {
    const r = await router();
    try {
      await shadowMigration(ctx, await migrateTo('cand', false), 0);
      await r.refresh();
      const res = await r.search('cats', { subject: 'u', k: 7 });
      expect(res.profile).toBe('ctrl');
      let queued: Array<{ doc_id: string; priority: number }> = [];
      for (let i = 0; i < 50 && queued.length < 7; i++) {
        await sleep(20);
        queued = (
          await db.query<{ doc_id: string; priority: number }>(
            `SELECT doc_id, priority FROM ${QUEUE_TABLE} WHERE profile = 'cand' AND priority = 10`,
          )
        ).rows;
      }
      expect(queued.map((q) => q.doc_id).sort()).toEqual(res.hits.map((h) => h.id).sort());
      // Each is a just-in-time request, visible as waiting until a worker embeds it.
      const jit = await jitSummary(db, 'cand', { from: new Date(0), to: await databaseNow(db) });
      expect(jit.pending).toBe(7);
    } finally {
      await r.close();
    }
  });
});
