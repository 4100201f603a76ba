/**
 * Issue 14 findings 3 and 4: at 128 concurrent callers the router's pool queued searches without
 * bound and the breaker's timer counted that wait, so a healthy candidate "failed" hundreds of
 * times; with the database hung, every search waited as long as the hang. Saturation is now
 * shed (OverloadedError) or waited out without blame, and every search has a deadline.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { databaseNow } from '../../src/db/clock.js';
import type { Database } from '../../src/db/database.js';
import { runMigrations } from '../../src/db/migrations.js';
import { openPostgres } from '../../src/db/postgres.js';
import {
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import type { MigrationState } from '../../src/migration/state.js';
import { OverloadedError, SearchTimeoutError } from '../../src/router/load.js';
import { Router } from '../../src/router/router.js';
import { migrations } from '../../src/schema.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { createServerDatabase } from '../helpers/databases.js';
import { startCluster, type Cluster } from '../helpers/pg-cluster.js';
import { scaled } from '../helpers/slowdown.js';

/** A database of 300 articles at canary 50% (hash profiles), on a pool of `max` connections. */
async function canary(url: string, max: number): Promise<{ db: Database; ctx: LifecycleContext; m: MigrationState }> {
  const db = await openPostgres(url, { max });
  await runMigrations(db, migrations);
  await createArticles(db, 300);
  const manifest = articlesManifest();
  const ctx: LifecycleContext = {
    db,
    manifest,
    source: await articlesSource(db, manifest),
    actor: 'test',
    backfill: backfillPlanner,
  };
  await prepareBackfill(db, ctx.source, getProfile(manifest, 'small'), manifest.profiles);
  await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'small')] });
  let m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
  await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'big')] });
  m = await rampMigration(ctx, await shadowMigration(ctx, m, 0), 50);
  return { db, ctx, m };
}

async function burst(
  router: Router,
  callers: number,
): Promise<{ ok: number; overloaded: number; other: unknown[]; maxQueuedMs: number }> {
  const outcome = { ok: 0, overloaded: 0, other: [] as unknown[], maxQueuedMs: 0 };
  await Promise.all(
    Array.from({ length: callers }, async (_, i) => {
      try {
        const res = await router.search(`article ${i % 13} about cats`, { subject: `caller-${i}`, k: 5 });
        outcome.maxQueuedMs = Math.max(outcome.maxQueuedMs, res.latencyMs.queued);
        outcome.ok++;
      } catch (error) {
        if (error instanceof OverloadedError) outcome.overloaded++;
        else outcome.other.push(error);
      }
    }),
  );
  return outcome;
}

describe('saturation on postgres', () => {
  let drop: () => Promise<void>;
  let env: Awaited<ReturnType<typeof canary>>;
  beforeAll(async () => {
    const server = await createServerDatabase();
    drop = server.drop;
    env = await canary(server.url, 4);
  });
  afterAll(async () => {
    await env.db.close();
    await drop();
  });

  it('1,024 or more concurrent callers on a 4-connection pool: no candidate error, no breaker trip', async () => {
    // The breaker's timer: far above one search's own work, measured here one search at a time
    // (fifty times the slowest of 16, at least 500 ms), so a loaded machine's slow search is no
    // timeout; and, checked below, far below the wait of the last callers in line.
    const probe = await new Router(env.db, env.ctx.manifest, env.ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: false,
    }).start();
    let ownWorkMs = 0;
    try {
      for (let i = 0; i < 16; i++) {
        const res = await probe.search(`article ${i} about cats`, { subject: `probe-${i}`, k: 5 });
        ownWorkMs = Math.max(ownWorkMs, res.latencyMs.embed + res.latencyMs.search);
      }
    } finally {
      await probe.close();
    }
    const timeoutMs = scaled(Math.max(500, Math.ceil(50 * ownWorkMs)));
    const from = await databaseNow(env.db);
    const router = await new Router(env.db, env.ctx.manifest, env.ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: { windowMs: 60_000 },
      // Under the pool's 4: the router's watcher and metrics writes take the others.
      maxConcurrentSearches: 2,
      maxQueuedSearches: 16_384,
      breaker: { timeoutMs },
      searchDeadlineMs: 120_000,
    }).start();
    try {
      // The last in line waits for hundreds of others' queries: longer than the breaker's timeout,
      // which times only the candidate's own embed and query. A fast machine clears 1,024 callers
      // before the timer would fire, so the burst doubles until the wait is the one this is about.
      let callers = 1024;
      let r = await burst(router, callers);
      while (r.maxQueuedMs <= timeoutMs && callers < 16_384) {
        expect(r.other).toEqual([]);
        expect(r.ok).toBe(callers);
        callers *= 2;
        r = await burst(router, callers);
      }
      expect(r.maxQueuedMs, 'the queue wait this test is about').toBeGreaterThan(timeoutMs);
      expect(r.other).toEqual([]);
      expect(r.ok).toBe(callers);
      expect(router.breakerState('big')).toBe('closed');
      expect(router.stats.fallbacks).toBe(0);
      await router.metrics!.flush();
    } finally {
      await router.close();
    }
    const cand = await readServingMetrics(env.db, 'big', { from });
    expect(cand.requests).toBeGreaterThan(100);
    expect(cand).toMatchObject({ errors: 0, fallbacks: 0, breakerOpens: 0 });
  });

  it('sheds what its queue cannot hold with OverloadedError, counted against no profile', async () => {
    const from = await databaseNow(env.db);
    const router = await new Router(env.db, env.ctx.manifest, env.ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: { windowMs: 60_000 },
      maxConcurrentSearches: 2,
      maxQueuedSearches: 8,
    }).start();
    try {
      const r = await burst(router, 256);
      expect(r.other).toEqual([]);
      expect(r.overloaded).toBeGreaterThan(0);
      expect(r.ok + r.overloaded).toBe(256);
      expect(router.stats.overloaded).toBe(r.overloaded);
      expect(router.breakerState('big')).toBe('closed');
      await router.metrics!.flush();
    } finally {
      await router.close();
    }
    for (const profile of ['small', 'big'])
      expect(await readServingMetrics(env.db, profile, { from })).toMatchObject({ errors: 0, fallbacks: 0 });
  });
});

describe('a hung database server', () => {
  let cluster: Cluster;
  let env: Awaited<ReturnType<typeof canary>>;
  let pids: number[] = [];
  beforeAll(async () => {
    cluster = await startCluster({ serverOptions: ['-c fsync=off'], stopMode: 'immediate' });
    env = await canary(cluster.url, 4);
  });
  afterAll(async () => {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
    await env?.db.close();
    cluster?.stop();
  });

  it('fails searches at their deadline instead of waiting for the server', async () => {
    const router = await new Router(env.db, env.ctx.manifest, env.ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: false,
      searchDeadlineMs: 1000,
      pollMs: 100_000,
    }).start();
    try {
      expect((await router.search('cats', { subject: 'a' })).hits.length).toBeGreaterThan(0);
      const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
      pids = [postmaster, ...children];
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      const results = await Promise.all(
        ['control', 'x', 'y', 'z'].map((subject) =>
          router.search('cats', { subject }).then(
            () => null,
            (e: unknown) => e,
          ),
        ),
      );
      for (const e of results) expect(e).toBeInstanceOf(SearchTimeoutError);
      expect(router.stats.deadlineExceeded).toBe(4);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      pids = [];
      await router.close();
    }
  });
});
