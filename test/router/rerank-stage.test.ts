import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Manifest } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { Router } from '../../src/router/router.js';
import { inRerankArm, RERANK_MIN_BUDGET_MS } from '../../src/router/rerank-stage.js';
import { setRerankSwitch } from '../../src/router/rerank-switch.js';
import type { Source } from '../../src/source/source.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { startFakeReranker, type FakeReranker, type RerankFault } from '../helpers/fake-reranker.js';
import { scaled } from '../helpers/slowdown.js';
import { waitFor } from '../helpers/wait.js';

const noSleep = async () => {};

describe.each(BACKENDS)('the rerank stage on %s', (backend) => {
  let db: Database;
  let fake: FakeReranker;
  let manifest: Manifest;
  let source: Source;
  const routers: Router[] = [];

  async function setup(rerank: Record<string, unknown> = {}): Promise<void> {
    manifest = articlesManifest({
      rr: {
        provider: 'hash',
        dims: 32,
        rerank: { provider: 'http', base_url: fake.url, model: 'rr-1', top_n: 10, max_retries: 0, ...rerank },
      },
    });
    source = await articlesSource(db, manifest);
    const rr = getProfile(manifest, 'rr');
    await prepareBackfill(db, source, rr, manifest.profiles);
    await runBackfill(db, { source, profiles: [rr] });
  }

  async function router(options: { pollMs?: number; searchDeadlineMs?: number } = {}): Promise<Router> {
    const r = await new Router(db, manifest, source, {
      defaultProfile: 'rr',
      hotDocuments: false,
      pollMs: options.pollMs,
      searchDeadlineMs: options.searchDeadlineMs,
      rerank: { http: { sleep: noSleep } },
    }).start();
    routers.push(r);
    return r;
  }

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    fake = await startFakeReranker();
    await createArticles(db, 40);
  });
  afterEach(async () => {
    for (const r of routers.splice(0)) await r.close();
    await fake.close();
    await db.close();
  });

  /** The retrieval's own top k, with the stage switched off for this one search. */
  async function retrieval(r: Router, query: string, k: number) {
    await setRerankSwitch(db, 'rr', 'off', { actor: 'test' });
    await r.refresh();
    const response = await r.search(query, { k });
    await setRerankSwitch(db, 'rr', 'on', { actor: 'test' });
    await r.refresh();
    expect(response.rerank).toBe('off');
    return response.hits;
  }

  it('reranks the top_n candidates with their text and returns the top k in the reranker order', async () => {
    await setup();
    const r = await router();
    const top10 = await retrieval(r, 'article about cats', 10);
    expect(fake.requests).toHaveLength(0);
    const response = await r.search('article about cats', { k: 3 });
    expect(response.rerank).toBe('on');
    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!.body;
    expect(sent.query).toBe('article about cats');
    expect(sent.documents).toHaveLength(10);
    // The candidates' rendered text, in the retrieval's order ('{title}\n\n{body}').
    const { rows } = await db.query<{ text: string }>(
      `SELECT title || E'\\n\\n' || body AS text FROM public.articles WHERE id = $1`,
      [Number(top10[0]!.id)],
    );
    expect(sent.documents[0]).toBe(rows[0]!.text);
    // The fake ranks in reverse: the retrieval's 10th comes first.
    expect(response.hits.map((h) => h.id)).toEqual(
      top10
        .slice()
        .reverse()
        .slice(0, 3)
        .map((h) => h.id),
    );
    expect(response.latencyMs.rerank).toBeGreaterThan(0);
    await r.metrics!.flush();
    const summary = await readServingMetrics(db, 'rr', { from: new Date(0) });
    expect(summary.rerank.on).toBe(1);
    expect(summary.rerank.off).toBe(1);
    expect(summary.rerank.changed).toBe(1);
    expect(summary.rerank.acceptance).toBe(1);
    expect(summary.rerank.fallbacks).toBe(0);
    expect(summary.rerank.latencyMs.p95).toBeGreaterThan(0);
    // The top-1 quality signal is the retrieval's, not the reranked first hit's: both searches
    // (one reranked in reverse) recorded the retrieval's top score.
    expect(response.hits[0]!.score).toBeLessThan(top10[0]!.score);
    expect(summary.quality.top1Score).toBeCloseTo(top10[0]!.score, 6);
  });

  it.each<[string, RerankFault]>([
    ['500', { kind: 'status', status: 500 }],
    ['timeout', { kind: 'slow', delayMs: 60_000 }],
    ['malformed body', { kind: 'malformed-json' }],
    ['out-of-range index', { kind: 'out-of-range' }],
  ])('a reranker %s serves the retrieval order, counted as a fallback', async (_name, fault) => {
    await setup({ timeout_ms: 150 });
    const r = await router();
    const expected = await retrieval(r, 'dogs', 4);
    fake.always = fault;
    const response = await r.search('dogs', { k: 4 });
    expect(response.rerank).toBe('fallback');
    expect(response.fallback).toBe(false);
    expect(response.hits).toEqual(expected);
    await r.metrics!.flush();
    const summary = await readServingMetrics(db, 'rr', { from: new Date(0) });
    expect(summary.rerank.fallbacks).toBe(1);
    expect(summary.rerank.on).toBe(0);
    expect(summary.rerank.fallbackRate).toBe(1);
    expect(summary.errors).toBe(0);
  });

  it('a reranker slower than what is left of the search deadline falls back instead of failing the search', async () => {
    await setup({ timeout_ms: 60_000 });
    const r = await router({ searchDeadlineMs: scaled(1500) });
    const expected = await retrieval(r, 'birds', 3);
    fake.always = { kind: 'slow', delayMs: 120_000 };
    const response = await r.search('birds', { k: 3 });
    expect(response.rerank).toBe('fallback');
    expect(response.hits).toEqual(expected);
    expect(r.stats.deadlineExceeded).toBe(0);
  });

  it('a reranker that keeps missing what is left of the search deadline opens the circuit', async () => {
    await setup({ timeout_ms: 60_000 });
    const r = await router({ searchDeadlineMs: scaled(600) });
    fake.always = { kind: 'slow', delayMs: 120_000 };
    // Five in a row (the default) open it: the sixth search does not wait for the reranker.
    for (let i = 0; i < 5; i++) expect((await r.search(`owls ${i}`, { k: 2 })).rerank).toBe('fallback');
    expect(await waitFor(() => fake.requests.length === 5, 5000)).toBe(true);
    const sixth = await r.search('owls 6', { k: 2 });
    expect(sixth.rerank).toBe('fallback');
    expect(fake.requests).toHaveLength(5);
    expect(r.rerank.state('rr')).toBe('open');
    expect(r.stats.deadlineExceeded).toBe(0);
  });

  it('falls back without asking the reranker, nor counting against it, when too little of the deadline is left', async () => {
    await setup();
    const r = await router();
    const rr = getProfile(manifest, 'rr');
    const hits = await retrieval(r, 'cats', 10);
    const calls = fake.requests.length;
    // A retrieval that used all but a few milliseconds of the deadline, six times in a row.
    for (let i = 0; i < 6; i++) {
      const outcome = await r.rerank.apply(rr, 'cats', 3, null, hits, RERANK_MIN_BUDGET_MS - 1);
      expect(outcome.arm).toBe('fallback');
      expect(outcome.hits).toEqual(hits.slice(0, 3));
    }
    expect(fake.requests.length).toBe(calls);
    expect(r.rerank.state('rr')).toBe('closed');
    // With time left, the same stage reranks.
    expect((await r.rerank.apply(rr, 'cats', 3, null, hits, 60_000)).arm).toBe('on');
    expect(fake.requests.length).toBe(calls + 1);
  });

  it('over its rate_limit serves the retrieval order at once, neither calling the reranker nor opening its circuit', async () => {
    await setup({ rate_limit: { rpm: 1 } });
    const r = await router();
    expect((await r.search('cats', { k: 3 })).rerank).toBe('on');
    for (let i = 0; i < 6; i++) expect((await r.search(`cats ${i}`, { k: 3 })).rerank).toBe('fallback');
    expect(fake.requests).toHaveLength(1);
    expect(r.rerank.state('rr')).toBe('closed');
    await r.metrics!.flush();
    const summary = await readServingMetrics(db, 'rr', { from: new Date(0) });
    expect(summary.rerank).toMatchObject({ on: 1, fallbacks: 6 });
  });

  it('opens the circuit after failures in a row: later searches fall back without calling the reranker', async () => {
    await setup();
    const r = await router();
    fake.always = { kind: 'status', status: 503 };
    for (let i = 0; i < 5; i++) expect((await r.search(`fish ${i}`, { k: 2 })).rerank).toBe('fallback');
    expect(r.rerank.state('rr')).toBe('open');
    const calls = fake.requests.length;
    expect((await r.search('fish again', { k: 2 })).rerank).toBe('fallback');
    expect(fake.requests.length).toBe(calls);
  });

  it('puts a subject in the same arm every time, by the rerank bucket, independently of any migration', async () => {
    await setup({ percent: 50 });
    const r = await router();
    const arms = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const subject = `user-${i}`;
      const first = await r.search('birds', { k: 2, subject });
      const again = await r.search('cats', { k: 2, subject });
      expect(again.rerank).toBe(first.rerank);
      expect(first.rerank).toBe(inRerankArm('rr', subject, 50) ? 'on' : 'off');
      arms.set(subject, first.rerank!);
    }
    expect(new Set(arms.values())).toEqual(new Set(['on', 'off']));
    // Without a subject a partial rollout cannot be sticky: the unreranked arm.
    expect((await r.search('birds', { k: 2 })).rerank).toBe('off');
  });

  it('the kill switch reaches a second instance through the database within a second', async () => {
    await setup();
    const a = await router({ pollMs: 100 });
    const b = await router({ pollMs: 100 });
    const rr = getProfile(manifest, 'rr');
    expect((await b.search('cats', { k: 2, subject: 's1' })).rerank).toBe('on');
    await setRerankSwitch(db, '*', 'off', { actor: 'test', reason: 'kill' });
    // Neither instance was told: both poll the switch.
    expect(await waitFor(() => a.rerank.arm(rr, 's1') === 'off' && b.rerank.arm(rr, 's1') === 'off', 1000)).toBe(true);
    const calls = fake.requests.length;
    expect((await b.search('cats', { k: 2, subject: 's1' })).rerank).toBe('off');
    expect(fake.requests.length).toBe(calls);
    await setRerankSwitch(db, '*', 'on', { actor: 'test' });
    expect(await waitFor(() => b.rerank.arm(rr, 's1') === 'on', 1000)).toBe(true);
  });

  it('a reranker that cannot load fails the start and leaves nothing running; switched off, the router serves', async () => {
    await setup({
      provider: 'features',
      weights: '/nonexistent/rr-weights.json',
      base_url: undefined,
      model: undefined,
    });
    // The routers' LISTEN connections (PostgreSQL: a dedicated session each).
    const listening = async () =>
      backend === 'postgres'
        ? Number(
            (
              await db.query<{ n: string }>(
                `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'`,
              )
            ).rows[0]!.n,
          )
        : 0;
    for (let i = 0; i < 3; i++) await expect(router()).rejects.toMatchObject({ code: 'RERANK_WEIGHTS_INVALID' });
    // Each failed start closed what it had opened (its LISTEN connection, its pollers).
    const deadline = performance.now() + scaled(5000);
    while ((await listening()) > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await listening()).toBe(0);
    await setRerankSwitch(db, 'rr', 'off', { actor: 'test', reason: 'weights being fixed' });
    const r = await router();
    const response = await r.search('cats', { k: 3 });
    expect(response).toMatchObject({ profile: 'rr', rerank: 'off' });
    expect(response.hits).toHaveLength(3);
  });

  it('a profile without a rerank block is untouched: no rerank arm in the response', async () => {
    await setup();
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles);
    await runBackfill(db, { source, profiles: [small] });
    const r = await new Router(db, manifest, source, { defaultProfile: 'small', hotDocuments: false }).start();
    routers.push(r);
    const response = await r.search('cats', { k: 3 });
    expect(response.rerank).toBeUndefined();
    expect(response.hits).toHaveLength(3);
    expect(fake.requests).toHaveLength(0);
  });
});
