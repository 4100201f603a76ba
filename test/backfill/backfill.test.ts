import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { prepareBackfill, runBackfill, estimateBackfill } from '../../src/backfill/backfill.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { captureInstalled, removeCapture, QUEUE_TABLE } from '../../src/source/capture.js';
import { storeLayout } from '../../src/store/store.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { articlesManifest, articlesSource, createArticles, expectStoreMatchesSource, getProfile } from './helpers.js';

describe.each(BACKENDS)('backfill on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
  });
  afterEach(() => db.close());

  const queued = async (profile: string) =>
    (
      await db.query<{ doc_id: string }>(`SELECT doc_id FROM ${QUEUE_TABLE} WHERE profile = $1 ORDER BY doc_id::int`, [
        profile,
      ])
    ).rows.map((r) => r.doc_id);

  it('embeds every row of an attached table, then nothing on a rerun', async () => {
    await createArticles(db, 1200);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    expect(source).toMatchObject({ kind: 'attach', idType: 'integer' });
    const small = getProfile(manifest, 'small');
    const plan = await prepareBackfill(db, source, small, manifest.profiles, { chunkSize: 250 });
    expect(plan).toMatchObject({ sourceRows: 1200, chunks: 5 });
    const run = await runBackfill(db, { source, profiles: [small], pageSize: 100 });
    expect(run.coverage).toMatchObject({ sourceRows: 1200, current: 1200, stale: 0, missing: 0, ratio: 1 });
    expect(run.workers[0]!.rowsEmbedded).toBe(1200);
    const check = await expectStoreMatchesSource(db, source, small);
    expect(check).toEqual({ rows: 1200, mismatched: [], missing: [], orphans: [] });

    await prepareBackfill(db, source, small, manifest.profiles, { chunkSize: 250 });
    const again = await runBackfill(db, { source, profiles: [small] });
    expect(again.workers[0]!.rowsEmbedded).toBe(0);
  });

  it('captures inserts, template-column updates and deletes; ignores other updates and unchanged text', async () => {
    await createArticles(db, 10);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    const small = getProfile(manifest, 'small');
    const big = getProfile(manifest, 'big');
    await prepareBackfill(db, source, small, manifest.profiles);
    await prepareBackfill(db, source, big, manifest.profiles);
    await runBackfill(db, { source, profiles: [small, big] });
    expect(await queued('small')).toEqual([]);

    await db.exec(`UPDATE public.articles SET views = views + 1`); // not a template column
    await db.exec(`UPDATE public.articles SET body = body WHERE id = 1`); // same text
    expect(await queued('small')).toEqual([]);
    await db.exec(`UPDATE public.articles SET title = 'New title' WHERE id = 2`); // only small reads title
    expect(await queued('small')).toEqual(['2']);
    expect(await queued('big')).toEqual([]);
    await db.exec(`UPDATE public.articles SET body = 'changed' WHERE id = 3`);
    await db.exec(`INSERT INTO public.articles (id, title, body) VALUES (11, 't', 'new article')`);
    await db.exec(`DELETE FROM public.articles WHERE id = 4`);
    expect(await queued('small')).toEqual(['2', '3', '4', '11']);
    expect(await queued('big')).toEqual(['3', '4', '11']);

    await runBackfill(db, { source, profiles: [small, big] });
    for (const p of [small, big]) {
      expect(await expectStoreMatchesSource(db, source, p)).toEqual({
        rows: 10,
        mismatched: [],
        missing: [],
        orphans: [],
      });
    }
    expect(await queued('small')).toEqual([]);
  });

  it('empties the stores on TRUNCATE and removes its triggers on detach', async () => {
    await createArticles(db, 20);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles);
    await runBackfill(db, { source, profiles: [small] });
    await db.exec('TRUNCATE public.articles');
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${storeLayout(small).table}`);
    expect(rows[0]!.n).toBe(0);
    expect(await captureInstalled(db, source)).toBe(true);
    await removeCapture(db, source);
    expect(await captureInstalled(db, source)).toBe(false);
    await db.exec(`INSERT INTO public.articles (id, title, body) VALUES (1, 'a', 'b')`);
    expect(await queued('small')).toEqual([]);
  });

  it('estimates a dry run without embedding, and backfills a filtered subset first', async () => {
    await createArticles(db, 100);
    const manifest = articlesManifest({
      priced: { provider: 'hash', dims: 16, price_per_million_tokens: 2, rate_limit: { rpm: 60 }, batch_size: 10 },
    });
    const source = await articlesSource(db, manifest);
    const priced = getProfile(manifest, 'priced');
    const estimate = await estimateBackfill(db, source, priced, null);
    expect(estimate).toMatchObject({ rows: 100, toEmbed: 100, index: 'hnsw (vector_cosine_ops)' });
    expect(estimate.estimatedTokens).toBeGreaterThan(100 * 5);
    expect(estimate.estimatedCost).toBeCloseTo((estimate.estimatedTokens / 1e6) * 2, 12);
    expect(estimate.estimatedSeconds).toBeCloseTo((10 * 60) / 60, 6); // 10 requests at 60 rpm
    expect((await countCoverage(db, source, priced)).current).toBe(0);

    const small = getProfile(manifest, 'small');
    await db.exec(`ALTER TABLE public.articles ADD COLUMN category text`);
    await db.exec(`UPDATE public.articles SET category = CASE WHEN id <= 30 THEN 'first' ELSE 'later' END`);
    const source2 = await articlesSource(db, manifest);
    const plan = await prepareBackfill(db, source2, small, manifest.profiles, {
      filter: { column: 'category', value: 'first' },
    });
    expect(plan.sourceRows).toBe(30);
    await runBackfill(db, { source: source2, profiles: [small] });
    expect((await countCoverage(db, source2, small)).current).toBe(30);
  });

  it('stops after --limit rows and resumes where it stopped', async () => {
    await createArticles(db, 300);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles, { chunkSize: 100 });
    const first = await runBackfill(db, { source, profiles: [small], pageSize: 50, limit: 120 });
    expect(first.workers[0]!.rowsEmbedded).toBe(120);
    expect(first.coverage.current).toBe(120);
    const rest = await runBackfill(db, { source, profiles: [small], pageSize: 50 });
    expect(rest.workers[0]!.rowsEmbedded + first.workers[0]!.rowsEmbedded).toBe(300);
    expect(rest.coverage.ratio).toBe(1);
  });

  it('stops at exactly --limit rows with a page larger than the limit, over several workers and the queue', async () => {
    await createArticles(db, 600);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles, { chunkSize: 100 });
    // A page of 256 and a limit of 10: the page must not run past the limit.
    const one = await runBackfill(db, { source, profiles: [small], pageSize: 256, limit: 10 });
    expect(one.workers[0]!.rowsEmbedded).toBe(10);
    expect(one.coverage.current).toBe(10);
    // Three workers share one limit: together they stop at 95, not 3 × 95.
    const three = await runBackfill(db, { source, profiles: [small], workers: 3, pageSize: 40, limit: 95 });
    expect(three.workers.reduce((a, w) => a + w.rowsEmbedded, 0)).toBe(95);
    expect(three.coverage.current).toBe(105);
    // Live changes queued by the capture triggers count against the limit too.
    await db.exec(`UPDATE public.articles SET body = body || ' changed' WHERE id <= 20`);
    expect((await queued('small')).length).toBe(20);
    const queuedRun = await runBackfill(db, { source, profiles: [small], pageSize: 256, limit: 7 });
    expect(queuedRun.workers[0]!.rowsEmbedded).toBe(7);
    expect((await queued('small')).length).toBe(13);

    // The dry run honours --limit (and --filter): only the first rows to embed are estimated.
    const limited = await estimateBackfill(db, source, small, null, 10);
    const all = await estimateBackfill(db, source, small, null);
    expect(all.toEmbed).toBe(600 - 105 + 13);
    expect(limited).toMatchObject({ rows: 600, toEmbed: 10 });
    expect(limited.estimatedTokens).toBeLessThan(all.estimatedTokens / 10);
    expect(limited.estimatedTokens).toBeGreaterThan(0);
  });
});

describe.each(BACKENDS)('configuration text in SQL on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
  });
  afterEach(() => db.close());

  it('keeps template literals inside their quotes: dollar tags, quotes and backslashes', async () => {
    await createArticles(db, 5);
    const hostile = "x $reembed$; DROP TABLE public.articles; $reembed$ ' \\' \\\\ {body}";
    const manifest = articlesManifest({ evil: { provider: 'hash', dims: 8, template: hostile } });
    const source = await articlesSource(db, manifest);
    const evil = getProfile(manifest, 'evil');
    // With standard_conforming_strings off, a plain '…' literal would read backslashes as escapes.
    await db.exec('SET standard_conforming_strings = off');
    await prepareBackfill(db, source, evil, manifest.profiles);
    await runBackfill(db, { source, profiles: [evil] });
    await db.exec(`UPDATE public.articles SET body = 'changed' WHERE id = 1`);
    await runBackfill(db, { source, profiles: [evil] });
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM public.articles');
    expect(rows[0]!.n).toBe(5);
    expect(await expectStoreMatchesSource(db, source, evil)).toEqual({
      rows: 5,
      mismatched: [],
      missing: [],
      orphans: [],
    });
    await db.exec('SET standard_conforming_strings = on');
  });
});
