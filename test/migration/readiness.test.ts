/**
 * Issue 17 finding 1: with the application writing, counted coverage is never exactly 100% at
 * one instant, so ramp and cutover were refused for ever. Readiness is judged by lag instead.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { runBackfill } from '../../src/backfill/backfill.js';
import { candidateReadiness } from '../../src/backfill/readiness.js';
import { truncatedPercent as formatPercent } from '../../src/percent.js';
import { FAILURES_TABLE } from '../../src/backfill/tables.js';
import type { Database } from '../../src/db/database.js';
import {
  cutoverMigration,
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  TransitionRefusedError,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import type { MigrationState } from '../../src/migration/state.js';
import { QUEUE_TABLE } from '../../src/source/capture.js';
import { storeLayout } from '../../src/store/store.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as TransitionRefusedError,
  );

describe.each(BACKENDS)('readiness by lag on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  let m: MigrationState;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 400);
    const manifest = articlesManifest({}, { rollout: { min_coverage: 0.95 } });
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'small')] });
    m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'big')] });
    m = await shadowMigration(ctx, m, 0);
  });
  afterEach(() => db.close());

  const big = () => getProfile(ctx.manifest, 'big');

  it('promotes while changes wait in the queue within the lag, and says which case holds it otherwise', async () => {
    // The application changes rows: capture queues them; no worker has run yet.
    await db.query(`UPDATE public.articles SET body = body || ' (edited)' WHERE id <= 5`);
    await db.query(`DELETE FROM public.articles WHERE id = 400`);
    let r = await candidateReadiness(db, ctx.source, big(), { minCoverage: 0.95 });
    expect(r).toMatchObject({ ready: true, sourceRows: 399, current: 394, inFlight: 6, lagging: 0, unqueued: 0 });
    expect(r.coverage).toBeLessThan(1);
    m = await rampMigration(ctx, m, 5);
    expect(m.percent).toBe(5);

    // The same changes, queued long ago: the workers are behind.
    await db.query(`UPDATE ${QUEUE_TABLE} SET enqueued_at = enqueued_at - interval '1 hour' WHERE profile = 'big'`);
    const lagging = await refusal(rampMigration(ctx, m, 25));
    expect(lagging).toBeInstanceOf(TransitionRefusedError);
    expect(lagging!.message).toMatch(/6 live changes in flight, oldest 36\d\d s \(limit 30 s\)/);
    // A longer lag for this step accepts them.
    m = await rampMigration(ctx, m, 25, { maxQueueLagMs: 2 * 3600_000 });
    expect(m.percent).toBe(25);

    // A worker catches up: everything current.
    await runBackfill(db, { source: ctx.source, profiles: [big()] });
    r = await candidateReadiness(db, ctx.source, big(), { minCoverage: 0.95 });
    expect(r).toMatchObject({ ready: true, current: 399, inFlight: 0, lagging: 0, unqueued: 0, coverage: 1 });

    // A row changed behind capture's back (no queue item) is a backfill gap, not a live change.
    await db.query(`DELETE FROM ${storeLayout(big()).table} WHERE doc_id = '7'`);
    const gap = await refusal(rampMigration(ctx, m, 50));
    expect(gap!.message).toMatch(/backfill incomplete \(1 rows not embedded\)/);
    expect(gap!.message).toMatch(/coverage 99\.74%/);
    await db.query(`INSERT INTO ${QUEUE_TABLE} (profile, doc_id) VALUES ('big', '7')`);
    await runBackfill(db, { source: ctx.source, profiles: [big()] });
    expect((await candidateReadiness(db, ctx.source, big(), { minCoverage: 0.95 })).ready).toBe(true);

    // A dead letter holds it.
    await db.query(
      `INSERT INTO ${FAILURES_TABLE} (profile, doc_id, error_class, message, attempts) VALUES ('big', '8', 'X', 'boom', 3)`,
    );
    const dead = await refusal(cutoverMigration(ctx, await rampMigration(ctx, m, 50, { force: true, reason: 't' })));
    expect(dead!.message).toMatch(/dead letters \(1\)/);
  });

  it('holds under min_coverage even when every change is in flight, and never prints 100.00% short of it', async () => {
    await db.query(`UPDATE public.articles SET body = body || ' (edited)' WHERE id <= 40`);
    const r = await candidateReadiness(db, ctx.source, big(), { minCoverage: 0.95 });
    expect(r).toMatchObject({ ready: false, inFlight: 40, lagging: 0, unqueued: 0 });
    expect(r.reasons.join()).toMatch(/coverage 90\.00% under the minimum of 95\.00%/);
    expect(formatPercent(0.99999)).toBe('99.99%');
    expect(formatPercent(1)).toBe('100.00%');
  });
});
