/**
 * Just-in-time requests made visible (issue 13 item 4): a search's request to embed a document
 * now is stamped in the queue, and its completion by a worker is recorded with the time it
 * waited, for status, the dashboard and the `jit.*` gate metrics.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { JIT_EMBEDDED_TABLE, jitBacklog, jitSummary, pruneJitCompletions } from '../../src/backfill/jit.js';
import type { Manifest } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import { parseRollout, type Gate } from '../../src/config/rollout.js';
import { databaseNow } from '../../src/db/clock.js';
import type { Database } from '../../src/db/database.js';
import { evaluateGate } from '../../src/gates/evaluate.js';
import { measure, type MeasureContext } from '../../src/gates/measure.js';
import { enqueue, JIT_PRIORITY, QUEUE_TABLE } from '../../src/source/capture.js';
import type { Source } from '../../src/source/source.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from './helpers.js';

const FIVE_MINUTES = 5 * 60_000;

describe.each(BACKENDS)('just-in-time requests on %s', (backend) => {
  let db: Database;
  let manifest: Manifest;
  let source: Source;
  let profile: Profile;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 40);
    manifest = articlesManifest();
    source = await articlesSource(db, manifest);
    profile = getProfile(manifest, 'big');
  });
  afterEach(() => db.close());

  /** Moves the first request of these ids `ms` into the past (as if a search had asked then). */
  async function requestedAgo(ids: string[], ms: number): Promise<void> {
    await db.query(
      `UPDATE ${QUEUE_TABLE} SET jit_requested_at = clock_timestamp() - make_interval(secs => $3::float8 / 1000)
       WHERE profile = $1 AND doc_id = ANY($2::text[])`,
      [profile.name, ids, ms],
    );
  }

  async function summary(): Promise<Awaited<ReturnType<typeof jitSummary>>> {
    const now = await databaseNow(db);
    return jitSummary(db, profile.name, { from: new Date(now.getTime() - FIVE_MINUTES), to: now });
  }

  async function backlogNow(): Promise<Awaited<ReturnType<typeof jitBacklog>>> {
    const now = await databaseNow(db);
    return jitBacklog(db, profile.name, { from: new Date(now.getTime() - FIVE_MINUTES), to: now });
  }

  function gate(metric: string, extra: Record<string, unknown> = {}): Gate {
    const problems: string[] = [];
    const rollout = parseRollout({ gates: [{ name: 'jit', metric, interval: '5m', ...extra }] }, problems);
    expect(problems).toEqual([]);
    return rollout!.gates[0]!;
  }

  async function context(): Promise<MeasureContext> {
    return {
      db,
      source,
      control: getProfile(manifest, 'small'),
      candidate: profile,
      now: await databaseNow(db),
      evalHistory: '/nonexistent',
      annQueries: 1,
    };
  }

  it('counts only just-in-time requests as waiting, keeps the first request time, and records completions with their wait', async () => {
    await enqueue(db, profile.name, ['3'], 0); // a live change: not a just-in-time request
    await enqueue(db, profile.name, ['7', '9'], JIT_PRIORITY);
    await requestedAgo(['7', '9'], 90_000);
    // Asked again, and changed meanwhile: the wait still starts at the first request.
    await enqueue(db, profile.name, ['7'], JIT_PRIORITY);
    await db.exec(`UPDATE public.articles SET body = body || ' (edited)' WHERE id = 7`);
    expect((await summary()).pending).toBe(2);
    const before = await summary();
    expect(before).toMatchObject({ pending: 2, completed: 0, itemsPerMinute: 0, timeToEmbedMs: null });
    expect(before.oldestPendingSeconds).toBeGreaterThanOrEqual(90);

    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    const run = await runBackfill(db, { source, profiles: [profile] });
    expect(run.coverage).toMatchObject({ sourceRows: 40, current: 40 });

    expect((await summary()).pending).toBe(0);
    const after = await summary();
    expect(after.pending).toBe(0);
    expect(after.oldestPendingSeconds).toBeNull();
    expect(after.completed).toBe(2);
    expect(after.itemsPerMinute).toBeCloseTo(2 / 5, 6);
    const wait = after.timeToEmbedMs!;
    expect(wait.p50).toBeGreaterThanOrEqual(90_000);
    expect(wait.p95).toBeGreaterThanOrEqual(wait.p50);
    expect(wait.max).toBeGreaterThanOrEqual(wait.p95);
    // The live change of 3 was processed too, but it was never a just-in-time request.
    const { rows } = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${JIT_EMBEDDED_TABLE}`);
    expect(Number(rows[0]!.n)).toBe(2);
  });

  it('gates on items per minute and time to embed, with no data below min_samples', async () => {
    // Nobody asked for anything: nobody waited, so the gate passes (it cannot hold a rollout for ever).
    const idle = gate('jit.items_per_minute', { min: 2, min_samples: 10 });
    const quiet = evaluateGate(idle, await measure(idle, await context()));
    expect(quiet).toMatchObject({ verdict: 'pass', candidate: null });
    expect(quiet.reason).toMatch(/no just-in-time request in the window/);
    // Four requests asked for four minutes ago and embedded only now: for four minutes two or
    // more waited, and three were embedded while another still waited: 0.75 a minute.
    await enqueue(db, profile.name, ['1', '2', '3', '4'], JIT_PRIORITY);
    await requestedAgo(['1', '2', '3', '4'], 4 * 60_000);
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    await runBackfill(db, { source, profiles: [profile] });

    const rate = gate('jit.items_per_minute', { min: 0.5, min_samples: 3 });
    const measured = await measure(rate, await context());
    expect(measured.candidate).toBeGreaterThan(3 / 4.2);
    expect(measured.candidate).toBeLessThanOrEqual(3 / 4);
    expect(measured.note).toMatch(
      /3 embedded while another waited, in the 24\d s of the window with two or more waiting/,
    );
    expect(evaluateGate(rate, measured).verdict).toBe('pass');
    const tooFast = gate('jit.items_per_minute', { min: 1, min_samples: 3 });
    expect(evaluateGate(tooFast, await measure(tooFast, await context())).verdict).toBe('fail');
    // Fewer completions than min_samples with nothing waiting: every request was served, so the
    // rate says how many were asked for, not how fast the workers are: it passes.
    const sparse = gate('jit.items_per_minute', { min: 2, min_samples: 4 });
    const served = evaluateGate(sparse, await measure(sparse, await context()));
    expect(served).toMatchObject({ verdict: 'pass', candidate: null });
    expect(served.reason).toMatch(/no backlog to measure: every just-in-time request in the window was embedded \(4;/);
    // One more request, just asked for: no data (not a failure of a rate the demand set).
    await enqueue(db, profile.name, ['10'], JIT_PRIORITY);
    const waiting = await measure(sparse, await context());
    expect(waiting.candidate).toBeNull();
    expect(waiting.note).toMatch(
      /4 completed, 1 waiting in the window: fewer than min_samples 4 embedded under a backlog/,
    );
    // The same request having waited the whole window: the four were embedded while it waited,
    // a backlog of four minutes that the workers cleared at 1 a minute: judged, and too slow.
    await requestedAgo(['10'], 6 * 60_000);
    const behind = evaluateGate(sparse, await measure(sparse, await context()));
    expect(behind.verdict).toBe('fail');
    expect(behind.candidate).toBeGreaterThan(4 / 4.2);
    expect(behind.candidate).toBeLessThanOrEqual(1);
    // Alone, waiting the whole window with nothing embedded: judged by the window's rate, 0.
    await db.exec(`DELETE FROM ${JIT_EMBEDDED_TABLE}`);
    const alone = evaluateGate(sparse, await measure(sparse, await context()));
    expect(alone).toMatchObject({ verdict: 'fail', candidate: 0 });
    expect(alone.reason).toMatch(/a request has waited the whole window/);
    await runBackfill(db, { source, profiles: [profile] });

    // A request no worker takes: its wait so far is the time to embed, and it grows.
    await enqueue(db, profile.name, ['20'], JIT_PRIORITY);
    await requestedAgo(['20'], 400_000);
    const slow = gate('jit.time_to_embed_p95_ms', { max: 300_000, min_samples: 1 });
    const stuck = await measure(slow, await context());
    expect(stuck.candidate).toBeGreaterThanOrEqual(400_000);
    expect(evaluateGate(slow, stuck).verdict).toBe('fail');
  });

  /** Records completed requests as if asked for and embedded at these offsets (seconds before now). */
  async function completions(waits: Array<[number, number]>): Promise<void> {
    for (const [askedAgo, embeddedAgo] of waits)
      await db.query(
        `INSERT INTO ${JIT_EMBEDDED_TABLE} (profile, requested_at, embedded_at)
         VALUES ($1, clock_timestamp() - make_interval(secs => $2), clock_timestamp() - make_interval(secs => $3))`,
        [profile.name, askedAgo, embeddedAgo],
      );
  }

  it('judges throughput only under a backlog: requests served one at a time pass any minimum', async () => {
    const runbook = gate('jit.items_per_minute', { min: 10, min_samples: 9 });
    // Fifteen requests 18 s apart, each embedded 7 s after it was asked for: never two waiting at
    // once, so they say how long one took (7 s), not how many the workers can do.
    await completions(Array.from({ length: 15 }, (_, i): [number, number] => [280 - 18 * i, 273 - 18 * i]));
    expect(await backlogNow()).toEqual({ seconds: 0, completed: 0 });
    const trickle = evaluateGate(runbook, await measure(runbook, await context()));
    expect(trickle).toMatchObject({ verdict: 'pass', candidate: null });
    expect(trickle.reason).toMatch(/no backlog to measure/);
    // Ten asked for at once and embedded one every 6 s: 9 embedded while others waited, over
    // the 54 s during which two or more waited: 10 a minute, which the gate takes.
    await db.exec(`DELETE FROM ${JIT_EMBEDDED_TABLE}`);
    await completions(Array.from({ length: 10 }, (_, i): [number, number] => [200, 194 - 6 * i]));
    const backlog = await backlogNow();
    expect(backlog.completed).toBe(9);
    expect(backlog.seconds).toBeCloseTo(54, 0);
    const cleared = await measure(runbook, await context());
    expect(cleared.candidate).toBeCloseTo(10, 0);
    // Overlapping waits merge, and a request still waiting keeps the backlog up to now.
    await db.exec(`DELETE FROM ${JIT_EMBEDDED_TABLE}`);
    await completions([
      [100, 40],
      [90, 60],
    ]);
    await enqueue(db, profile.name, ['30'], JIT_PRIORITY);
    await requestedAgo(['30'], 50_000);
    const merged = await backlogNow();
    // Two or more from 90 s ago to 60 s ago, then from 50 s ago to 40 s ago.
    expect(merged.seconds).toBeCloseTo(40, 0);
    expect(merged.completed).toBe(2);
  });

  it('counts no completion from before the migration was created', async () => {
    await enqueue(db, profile.name, ['1', '2', '3'], JIT_PRIORITY);
    await requestedAgo(['1', '2', '3'], 4 * 60_000);
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    await runBackfill(db, { source, profiles: [profile] });
    const slowWait = gate('jit.time_to_embed_p95_ms', { max: 60_000, min_samples: 1 });
    // Those completions (waits of four minutes) fail a gate that sees them...
    expect(evaluateGate(slowWait, await measure(slowWait, await context())).verdict).toBe('fail');
    // ...but not one of a migration created after them: nothing of its own to judge.
    const later = { ...(await context()), migrationCreatedAt: await databaseNow(db) };
    const fresh = evaluateGate(slowWait, await measure(slowWait, later));
    expect(fresh).toMatchObject({ verdict: 'pass', candidate: null });
    expect(fresh.reason).toMatch(/no just-in-time request in the window/);
  });

  it('starts the record afresh when a migration of the profile starts: stamps of an earlier one are forgotten', async () => {
    await enqueue(db, profile.name, ['11', '12'], JIT_PRIORITY);
    await requestedAgo(['11', '12'], 3 * 86_400_000);
    expect((await summary()).oldestPendingSeconds).toBeGreaterThan(2 * 86_400);
    await backfillPlanner.prepare(db, source, profile, manifest.profiles);
    expect(await summary()).toMatchObject({ pending: 0, oldestPendingSeconds: null });
    // Still queued, at their priority: only the stamp is gone.
    const { rows } = await db.query<{ doc_id: string; priority: number }>(
      `SELECT doc_id, priority FROM ${QUEUE_TABLE} WHERE profile = $1 ORDER BY doc_id`,
      [profile.name],
    );
    expect(rows).toEqual([
      { doc_id: '11', priority: JIT_PRIORITY },
      { doc_id: '12', priority: JIT_PRIORITY },
    ]);
  });

  it('prunes completions older than the cut', async () => {
    await enqueue(db, profile.name, ['4', '5'], JIT_PRIORITY);
    await prepareBackfill(db, source, profile, manifest.profiles, { chunkSize: 100 });
    await runBackfill(db, { source, profiles: [profile] });
    await db.exec(`UPDATE ${JIT_EMBEDDED_TABLE} SET embedded_at = embedded_at - interval '2 days' WHERE true`);
    await enqueue(db, profile.name, ['6'], JIT_PRIORITY);
    await runBackfill(db, { source, profiles: [profile] });
    const now = await databaseNow(db);
    expect(await pruneJitCompletions(db, new Date(now.getTime() - 86_400_000))).toBe(2);
    expect((await summary()).completed).toBe(1);
  });
});
