/**
 * Issue 14 finding 2: a caller's mistakes (empty query, unknown filter column, k out of range)
 * from subjects in the candidate's bucket opened the candidate's breaker and rolled a healthy
 * migration back. They must fail with InvalidRequestError and count against no profile.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Database } from '../../src/db/database.js';
import {
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { inCanary } from '../../src/router/bucket.js';
import { InvalidRequestError } from '../../src/router/request.js';
import { Router } from '../../src/router/router.js';
import { databaseNow } from '../../src/db/clock.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe.each(BACKENDS)('caller errors on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 60);
    const manifest = articlesManifest({
      // The candidate refuses queries over 4 tokens; the control takes them.
      strict: { provider: 'hash', dims: 16, template: '{title}', max_input_tokens: 4, on_too_long: 'fail' },
    });
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    for (const name of ['small', 'strict']) {
      await prepareBackfill(db, ctx.source, getProfile(manifest, name), manifest.profiles);
      await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, name)] });
    }
  });
  afterEach(() => db.close());

  it('fails invalid requests with InvalidRequestError, opens no breaker and records no error', async () => {
    const planned = await planMigration(ctx, 'small', 'strict');
    const m = await rampMigration(ctx, await shadowMigration(ctx, await startMigration(ctx, planned.migration), 0), 50);
    const subjects = Array.from({ length: 400 }, (_, i) => `user-${i}`).filter((s) => inCanary(m.id, s, 50));
    expect(subjects.length).toBeGreaterThan(100);
    const from = await databaseNow(db);
    const router = await new Router(db, ctx.manifest, ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: { windowMs: 60_000 },
    }).start();
    try {
      const invalid: Array<[unknown, Record<string, unknown>]> = [
        ['', {}],
        ['   \n', {}],
        ['cats', { k: -1 }],
        ['cats', { k: 0 }],
        ['cats', { k: 2.5 }],
        ['cats', { k: 5000 }],
        ['cats', { k: '10' }],
        ['cats', { filter: { column: 'no_such_column', value: 'x' } }],
        ['cats', { filter: { column: 'title; DROP TABLE articles', value: 'x' } }],
        ['cats', { filter: { column: 'title', value: 3 } }],
        [42, {}],
        [null, {}],
        ['cats', { subject: 7 }],
      ];
      for (let i = 0; i < 100; i++) {
        const [query, request] = invalid[i % invalid.length]!;
        const subject = subjects[i % subjects.length]!;
        const error = await router
          .search(query as string, { subject, ...request } as Parameters<Router['search']>[1])
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(error, `request ${JSON.stringify([query, request])}`).toBeInstanceOf(InvalidRequestError);
        expect((error as InvalidRequestError).code).toBe('INVALID_REQUEST');
        expect((error as InvalidRequestError).exitCode).toBe(2);
      }
      expect(router.breakerState('strict')).toBe('closed');
      expect(router.stats.fallbacks).toBe(0);
      expect(router.stats.breakerOpens).toBe(0);

      // A query the candidate's embedder refuses (over its 4 tokens) is served by the control,
      // with the reason, and is not the candidate's error.
      const long = 'cats and dogs and mice and birds and fish in the garden';
      for (const subject of subjects.slice(0, 20)) {
        const res = await router.search(long, { subject });
        expect(res).toMatchObject({ profile: 'small', fallback: true, fallbackReason: { kind: 'rejected_input' } });
      }
      expect(router.breakerState('strict')).toBe('closed');
      // A valid query still reaches the candidate.
      const ok = await router.search('cats', { subject: subjects[0] });
      expect(ok).toMatchObject({ profile: 'strict', fallback: false });
      expect(ok.fallbackReason).toBeUndefined();
    } finally {
      await router.close();
    }
    const cand = await readServingMetrics(db, 'strict', { from });
    expect(cand).toMatchObject({ requests: 1, errors: 0, breakerOpens: 0 });
    const ctrl = await readServingMetrics(db, 'small', { from });
    expect(ctrl).toMatchObject({ requests: 20, errors: 0 });
  });
});
