import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { ConfigError } from '../../src/errors.js';
import {
  abortMigration,
  cleanupMigration,
  cutoverMigration,
  finalizeMigration,
  planMigration,
  rampMigration,
  rollbackMigration,
  shadowMigration,
  startMigration,
  TransitionRefusedError,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { ConcurrentChangeError, getMigration, listEvents, type MigrationState } from '../../src/migration/state.js';
import { migrations } from '../../src/schema.js';
import { PROFILES_TABLE } from '../../src/store/store.js';
import {
  articlesManifest,
  articlesSource,
  createArticles,
  expectStoreMatchesSource,
  getProfile,
} from '../backfill/helpers.js';
import { BACKENDS, createServerDatabase, openTestDatabase } from '../helpers/databases.js';
import { backfillPlanner } from '../../src/backfill/planner.js';

async function context(db: Database): Promise<LifecycleContext> {
  const manifest = articlesManifest({ same_as_small: { provider: 'hash', dims: 32 } });
  return { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
}

async function backfillCandidate(ctx: LifecycleContext, m: MigrationState): Promise<void> {
  await runBackfill(ctx.db, { source: ctx.source, profiles: [getProfile(ctx.manifest, m.candidate)] });
}

async function capturing(db: Database): Promise<string[]> {
  return (await db.query<{ name: string }>(`SELECT name FROM ${PROFILES_TABLE} WHERE capture ORDER BY name`)).rows.map(
    (r) => r.name,
  );
}

describe.each(BACKENDS)('migration lifecycle on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 120);
    ctx = await context(db);
  });
  afterEach(() => db.close());

  it('goes planned → backfilling → shadow → canary 5/25/50 → cutover → finalized → cleaned, auditing every step', async () => {
    let m = (await planMigration(ctx, 'small', 'big')).migration;
    expect(m).toMatchObject({ phase: 'planned', percent: 0, control: 'small', candidate: 'big', version: 1 });
    m = await startMigration(ctx, m);
    expect(m.phase).toBe('backfilling');
    expect(await capturing(db)).toEqual(['big', 'small']);
    await backfillCandidate(ctx, m);
    m = await shadowMigration(ctx, m, 0.1);
    expect(m).toMatchObject({ phase: 'shadow', shadowSample: 0.1 });
    for (const p of [5, 25, 50]) m = await rampMigration(ctx, m, p);
    expect(m).toMatchObject({ phase: 'canary', percent: 50 });
    m = await cutoverMigration(ctx, m);
    expect(m).toMatchObject({ phase: 'cutover', percent: 100 });
    expect(m.cutoverAt).not.toBeNull();
    m = await finalizeMigration(ctx, m);
    expect(m.phase).toBe('finalized');
    expect(await capturing(db)).toEqual(['big']);
    m = await cleanupMigration(ctx, m, 0);
    expect(m.phase).toBe('cleaned');
    const { rows } = await db.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = 'reembed' AND table_name = 'emb_small'",
    );
    expect(rows).toHaveLength(0);
    const events = await listEvents(db, m.id);
    expect(events.map((e) => `${e.action}:${e.fromPhase ?? '-'}→${e.toPhase}@${e.toPercent}`)).toEqual([
      'plan:-→planned@0',
      'start:planned→backfilling@0',
      'shadow:backfilling→shadow@0',
      'ramp:shadow→canary@5',
      'ramp:canary→canary@25',
      'ramp:canary→canary@50',
      'cutover:canary→cutover@100',
      'finalize:cutover→finalized@100',
      'cleanup:finalized→cleaned@100',
    ]);
    expect(events.every((e) => e.actor === 'test')).toBe(true);
    expect(events[3]!.details).toMatchObject({ evidence: { coverage: 1, verifyOk: true } });
    expect(m.version).toBe(events.length);
  });

  it('refuses transitions out of order, with messages', async () => {
    let m = (await planMigration(ctx, 'small', 'big')).migration;
    await expect(rampMigration(ctx, m, 5)).rejects.toThrow(
      /cannot ramp a migration in phase planned \(allowed from: shadow, canary\)/,
    );
    await expect(cutoverMigration(ctx, m)).rejects.toThrow(TransitionRefusedError);
    await expect(finalizeMigration(ctx, m)).rejects.toThrow(/cannot finalize a migration in phase planned/);
    m = await startMigration(ctx, m);
    await expect(startMigration(ctx, m)).rejects.toThrow(/cannot start a migration in phase backfilling/);
    m = await shadowMigration(ctx, m, 0.5);
    // Not backfilled yet: no canary without coverage and verify, unless forced with a reason.
    await expect(rampMigration(ctx, m, 5)).rejects.toThrow(
      /the candidate big is not ready \(coverage 0\.00%: backfill incomplete \(120 rows not embedded, 1 chunks open\)\)/,
    );
    await expect(rampMigration(ctx, m, 5, { force: true })).rejects.toThrow(ConfigError);
    m = await rampMigration(ctx, m, 5, { force: true, reason: 'testing the canary early' });
    expect((await listEvents(db, m.id)).at(-1)).toMatchObject({
      reason: 'testing the canary early',
      details: { forced: true },
    });
    await backfillCandidate(ctx, m);
    // At the same percentage: a no-op, nothing recorded.
    const events = (await listEvents(db, m.id)).length;
    expect(await rampMigration(ctx, m, 5)).toEqual(m);
    expect(await listEvents(db, m.id)).toHaveLength(events);
    await expect(rampMigration(ctx, m, 4)).rejects.toThrow(/ramp only goes up \(now 5%\); to go down, roll back/);
    await expect(rampMigration(ctx, m, 101)).rejects.toThrow(ConfigError);
    await expect(abortMigration(ctx, m, 'no')).rejects.toThrow(/cannot abort a migration in phase canary/);
    await expect(shadowMigration(ctx, m, 1.5)).rejects.toThrow(ConfigError);
    await expect(cleanupMigration(ctx, m, 0)).rejects.toThrow(/cannot cleanup/);
    await expect(rollbackMigration(ctx, m, '  ')).rejects.toThrow(/rollback needs --reason/);
  });

  it('allows one active migration per source, and no migration between equal fingerprints', async () => {
    const first = (await planMigration(ctx, 'small', 'big')).migration;
    await expect(planMigration(ctx, 'small', 'big')).rejects.toThrow(/already has an active migration/);
    await expect(planMigration(ctx, 'small', 'same_as_small')).rejects.toThrow(/same fingerprint/);
    await abortMigration(ctx, first, 'changed our mind');
    await expect(planMigration(ctx, 'small', 'big')).resolves.toMatchObject({ migration: { phase: 'planned' } });
  });

  it('keeps a finalized migration until the retention period has passed', async () => {
    let m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
    await backfillCandidate(ctx, m);
    m = await finalizeMigration(
      ctx,
      await cutoverMigration(ctx, await rampMigration(ctx, await shadowMigration(ctx, m, 0), 100)),
    );
    await expect(cleanupMigration(ctx, m, 7 * 86_400_000)).rejects.toThrow(/less than the retention/);
  });

  it.each(['planned', 'backfilling', 'shadow', 'canary', 'cutover', 'finalized', 'cleaned'] as const)(
    'rolls back from %s to none of the candidate at once',
    async (phase) => {
      let m = (await planMigration(ctx, 'small', 'big')).migration;
      const steps: Array<(m: MigrationState) => Promise<MigrationState>> = [
        (x) => startMigration(ctx, x),
        async (x) => {
          await backfillCandidate(ctx, x);
          return shadowMigration(ctx, x, 0.2);
        },
        (x) => rampMigration(ctx, x, 25),
        (x) => cutoverMigration(ctx, x),
        (x) => finalizeMigration(ctx, x),
        (x) => cleanupMigration(ctx, x, 0),
      ];
      for (const step of steps) {
        if (m.phase === phase) break;
        m = await step(m);
      }
      expect(m.phase).toBe(phase);
      const stale = phase === 'finalized' || phase === 'cleaned';
      if (stale) {
        // The control was not written since finalize: a rollback must be forced, knowingly.
        await expect(rollbackMigration(ctx, m, 'drill')).rejects.toThrow(
          /has not been written since finalize.*--force/,
        );
        // Changes made while the control was not capturing, to catch up on.
        await db.exec(`UPDATE public.articles SET body = 'edited after finalize' WHERE id <= 3`);
        await db.exec(`DELETE FROM public.articles WHERE id = 120`);
      }
      const back = await rollbackMigration(ctx, m, `drill from ${phase}`, { force: stale });
      expect(back).toMatchObject({ phase: 'rolled_back', percent: 0 });
      expect(await capturing(db)).toEqual(['small']);
      expect((await listEvents(db, m.id)).at(-1)).toMatchObject({
        action: 'rollback',
        fromPhase: phase,
        toPhase: 'rolled_back',
        reason: `drill from ${phase}`,
      });
      await expect(rollbackMigration(ctx, back, 'again')).rejects.toThrow(
        /cannot rollback a migration in phase rolled_back/,
      );
      if (phase === 'finalized' || phase === 'cleaned') {
        // The control was not written after finalize: its backfill was planned again to catch up.
        await runBackfill(db, { source: ctx.source, profiles: [getProfile(ctx.manifest, 'small')] });
        // Edits and the delete made while it was not capturing are caught up, exactly.
        const check = await expectStoreMatchesSource(db, ctx.source, getProfile(ctx.manifest, 'small'));
        expect(check).toEqual({ rows: 119, mismatched: [], missing: [], orphans: [] });
      }
    },
  );
});

describe('concurrent transitions on postgres', () => {
  it('exactly one of two transitions from the same version wins', async () => {
    const server = await createServerDatabase();
    const a = await openDatabase(server.url, { migrations });
    const b = await openDatabase(server.url, { migrations });
    try {
      await createArticles(a, 50);
      const ctxA = await context(a);
      const ctxB = await context(b);
      let m = await startMigration(ctxA, (await planMigration(ctxA, 'small', 'big')).migration);
      await backfillCandidate(ctxA, m);
      m = await shadowMigration(ctxA, m, 0);
      for (let round = 0; round < 5; round++) {
        const results = await Promise.allSettled([
          rampMigration(ctxA, m, 10 + round * 10),
          rampMigration(ctxB, m, 15 + round * 10),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost[0]!.reason).toBeInstanceOf(ConcurrentChangeError);
        m = await getMigration(a, m.id);
        expect(m.percent).toBe((won[0] as PromiseFulfilledResult<MigrationState>).value.percent);
      }
      expect((await listEvents(a, m.id)).filter((e) => e.action === 'ramp')).toHaveLength(5);
    } finally {
      await a.close();
      await b.close();
      await server.drop();
    }
  });
});
