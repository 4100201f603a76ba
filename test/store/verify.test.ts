import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { enqueue, QUEUE_TABLE } from '../../src/source/capture.js';
import { DOCUMENTS_TABLE, upsertDocuments } from '../../src/source/managed.js';
import { contentHashSql } from '../../src/source/render.js';
import { resolveSource, type Source } from '../../src/source/source.js';
import { indexName } from '../../src/store/index.js';
import { ensureStore, FingerprintMismatchError, storeLayout } from '../../src/store/store.js';
import { StoreMissingError, verifyStore, type VerifyReport } from '../../src/store/verify.js';
import { writeVectors } from '../../src/store/write.js';
import { buildIndex } from '../../src/store/index.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const manifest = buildManifest(
  {
    profiles: {
      v: { provider: 'hash', dims: 4 },
      raw: { provider: 'hash', dims: 4, normalize: false, template: 'raw: {content}' },
      wide: { provider: 'hash', dims: 2100 },
    },
  },
  null,
);
const v = getProfile(manifest, 'v');
const IDS = ['d1', 'd2', 'd3', 'd4', 'd5'];

/** Unit vectors in general position (every element non-zero), so float rounding matters. */
function unitVector(dims: number, seed: number): Float32Array {
  const raw = Float64Array.from({ length: dims }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) + 1.5);
  const norm = Math.hypot(...raw);
  return Float32Array.from(raw, (x) => x / norm);
}

/** A clean store: every document embedded once, with its current content hash. */
async function populate(db: Database, p: Profile): Promise<void> {
  await ensureStore(db, p);
  await db.exec(`TRUNCATE ${storeLayout(p).table}; DELETE FROM ${DOCUMENTS_TABLE};`);
  await upsertDocuments(
    db,
    IDS.map((id) => ({ id, content: `text of ${id}` })),
  );
  const { rows } = await db.query<{ id: string; hash: string }>(
    `SELECT d.id, ${contentHashSql(p.template!, p.fingerprint, 'd')} AS hash FROM ${DOCUMENTS_TABLE} d ORDER BY d.id`,
  );
  await writeVectors(
    db,
    p,
    rows.map((r, i) => ({ docId: r.id, vector: unitVector(p.dims, i), contentHash: r.hash })),
  );
}

const check = (report: VerifyReport, name: string) => report.checks.find((c) => c.name === name)!;
const failing = (report: VerifyReport) =>
  Object.fromEntries(report.checks.filter((c) => !c.ok).map((c) => [c.name, { count: c.count, examples: c.examples }]));

describe.each(BACKENDS)('verify on %s', (backend) => {
  let db: Database;
  let source: Source;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    source = await resolveSource(db, manifest.source);
  });
  afterAll(() => db.close());
  beforeEach(() => populate(db, v));

  const store = storeLayout(v).table;

  it('passes a clean store with full coverage, every figure counted', async () => {
    const report = await verifyStore(db, source, v);
    expect(report).toMatchObject({
      ok: true,
      sourceRows: 5,
      storeRows: 5,
      currentRows: 5,
      coverage: 1,
      normTolerance: 1e-5,
      index: { exists: false },
    });
    expect(report.checks.map((c) => c.name)).toEqual([
      'stale',
      'missing',
      'orphans',
      'wrong_dims',
      'non_finite',
      'zero_vectors',
      'not_normalized',
      'foreign_fingerprint',
      'invalid_index',
    ]);
    expect(failing(report)).toEqual({});
  });

  it('finds a stale row (the source text changed after embedding)', async () => {
    await db.exec(`UPDATE ${DOCUMENTS_TABLE} SET content = 'changed' WHERE id = 'd2'`);
    const report = await verifyStore(db, source, v);
    expect(report).toMatchObject({ ok: false, currentRows: 4, coverage: 0.8 });
    expect(failing(report)).toEqual({ stale: { count: 1, examples: ['d2'] } });
  });

  it('finds an orphan (its source row was deleted) and a missing row (never embedded)', async () => {
    await db.exec(`DELETE FROM ${DOCUMENTS_TABLE} WHERE id = 'd3'`);
    await db.exec(`DELETE FROM ${store} WHERE doc_id = 'd4'`);
    const report = await verifyStore(db, source, v);
    expect(report).toMatchObject({ sourceRows: 4, storeRows: 4, currentRows: 3, coverage: 0.75 });
    expect(failing(report)).toEqual({
      orphans: { count: 1, examples: ['d3'] },
      missing: { count: 1, examples: ['d4'] },
    });
  });

  it('counts stale, missing and orphaned rows with a young queued change as in flight, not failures', async () => {
    await db.exec(`DELETE FROM ${QUEUE_TABLE}`);
    try {
      await db.exec(`UPDATE ${DOCUMENTS_TABLE} SET content = 'changed' WHERE id = 'd2'`);
      await db.exec(`DELETE FROM ${DOCUMENTS_TABLE} WHERE id = 'd3'`);
      await db.exec(`DELETE FROM ${store} WHERE doc_id IN ('d4', 'd5')`);
      // A live change queued for d2, d3 and d4 (the capture triggers' work); none for d5.
      await enqueue(db, v.name, ['d2', 'd3', 'd4']);
      const report = await verifyStore(db, source, v, { maxQueueLagMs: 30_000 });
      expect(report).toMatchObject({ ok: false, inFlight: 3, maxQueueLagMs: 30_000 });
      expect(check(report, 'stale')).toMatchObject({ ok: true, count: 1, inFlight: 1, examples: ['d2'] });
      expect(check(report, 'orphans')).toMatchObject({ ok: true, count: 1, inFlight: 1, examples: ['d3'] });
      // d5 has no change queued: the failure; its example comes before the one in flight.
      expect(check(report, 'missing')).toMatchObject({ ok: false, count: 2, inFlight: 1, examples: ['d5'] });

      // A change queued longer ago than the lag is the workers falling behind: a failure again.
      await db.exec(
        `UPDATE ${QUEUE_TABLE} SET enqueued_at = clock_timestamp() - interval '1 hour' WHERE doc_id = 'd3'`,
      );
      const aged = await verifyStore(db, source, v, { maxQueueLagMs: 30_000 });
      expect(check(aged, 'orphans')).toMatchObject({ ok: false, count: 1, inFlight: 0, examples: ['d3'] });
      expect(aged.inFlight).toBe(2);

      // A lag of 0 counts every row that is not current as a failure.
      const strict = await verifyStore(db, source, v, { maxQueueLagMs: 0 });
      expect(failing(strict)).toEqual({
        stale: { count: 1, examples: ['d2'] },
        missing: { count: 2, examples: ['d4', 'd5'] },
        orphans: { count: 1, examples: ['d3'] },
      });
      expect(strict.inFlight).toBe(0);
    } finally {
      await db.exec(`DELETE FROM ${QUEUE_TABLE}`);
    }
  });

  it('finds zero vectors and vectors that are not normalized', async () => {
    await db.exec(`UPDATE ${store} SET embedding = '[0,0,0,0]' WHERE doc_id IN ('d1', 'd4')`);
    await db.exec(`UPDATE ${store} SET embedding = '[1,1,0,0]' WHERE doc_id = 'd5'`);
    const report = await verifyStore(db, source, v);
    expect(failing(report)).toEqual({
      zero_vectors: { count: 2, examples: ['d1', 'd4'] },
      not_normalized: { count: 1, examples: ['d5'] },
    });
  });

  it('accepts float32 rounding of a unit vector and rejects a norm 1e-5 off', async () => {
    // 1 - 2^-23 is the float32 just below 1: a correctly normalized vector may land there.
    await db.query(`UPDATE ${store} SET embedding = $1::vector WHERE doc_id = 'd1'`, [`[${1 - 2 ** -23},0,0,0]`]);
    await db.query(`UPDATE ${store} SET embedding = $1::vector WHERE doc_id = 'd2'`, ['[0,1.00002,0,0]']);
    expect(failing(await verifyStore(db, source, v))).toEqual({ not_normalized: { count: 1, examples: ['d2'] } });
    expect(check(await verifyStore(db, source, v, { normTolerance: 1e-4 }), 'not_normalized').ok).toBe(true);
  });

  it('does not check norms of a profile that does not normalize', async () => {
    const raw = getProfile(manifest, 'raw');
    await populate(db, raw);
    await db.exec(`UPDATE ${storeLayout(raw).table} SET embedding = '[3,4,0,0]'`);
    const report = await verifyStore(db, source, raw);
    expect(report).toMatchObject({ ok: true, normTolerance: null, coverage: 1 });
  });

  it('finds rows of a foreign fingerprint (the CHECK constraint dropped to inject one)', async () => {
    // The store's CHECK (fingerprint = ...) makes this impossible in normal operation; drop it here.
    const { rows } = await db.query<{ name: string }>(
      `SELECT conname AS name FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'`,
      [store],
    );
    await db.exec(`ALTER TABLE ${store} DROP CONSTRAINT "${rows[0]!.name}"`);
    await db.exec(`UPDATE ${store} SET fingerprint = 'someoneelse' WHERE doc_id = 'd2'`);
    expect(failing(await verifyStore(db, source, v))).toEqual({ foreign_fingerprint: { count: 1, examples: ['d2'] } });
    await db.exec(`DELETE FROM ${store} WHERE fingerprint <> '${v.fingerprint}'`);
    await db.exec(`ALTER TABLE ${store} ADD CHECK (fingerprint = '${v.fingerprint}')`);
  });

  it('finds wrong dimensions (the column type loosened to inject one)', async () => {
    await db.exec(`ALTER TABLE ${store} ALTER COLUMN embedding TYPE vector`);
    try {
      await db.exec(`UPDATE ${store} SET embedding = '[0.6,0.8]' WHERE doc_id = 'd3'`);
      expect(failing(await verifyStore(db, source, v))).toEqual({ wrong_dims: { count: 1, examples: ['d3'] } });
    } finally {
      await db.exec(`DELETE FROM ${store} WHERE doc_id = 'd3'`);
      await db.exec(`ALTER TABLE ${store} ALTER COLUMN embedding TYPE vector(4)`);
    }
  });

  it('lists at most 5 examples, in id order', async () => {
    await upsertDocuments(
      db,
      Array.from({ length: 8 }, (_, i) => ({ id: `m${i}`, content: 'never embedded' })),
    );
    const missing = check(await verifyStore(db, source, v), 'missing');
    expect(missing).toMatchObject({ ok: false, count: 8, examples: ['m0', 'm1', 'm2', 'm3', 'm4'] });
  });

  it('reports an INVALID index', async () => {
    await buildIndex(db, v);
    expect(check(await verifyStore(db, source, v), 'invalid_index').ok).toBe(true);
    await db.exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'reembed.${indexName(v)}'::regclass`);
    expect(check(await verifyStore(db, source, v), 'invalid_index')).toMatchObject({
      ok: false,
      examples: [indexName(v)],
    });
    await db.exec(`DROP INDEX reembed.${indexName(v)}`);
  });

  it('verifies halfvec stores (over 2,000 dims) with the halfvec tolerance', async () => {
    const wide = getProfile(manifest, 'wide');
    await populate(db, wide);
    const report = await verifyStore(db, source, wide);
    expect(report).toMatchObject({ ok: true, normTolerance: 1e-3 });
    await db.query(
      `UPDATE ${storeLayout(wide).table} SET embedding = (embedding::vector + embedding::vector)::halfvec WHERE doc_id = 'd1'`,
      [],
    );
    expect(failing(await verifyStore(db, source, wide))).toEqual({ not_normalized: { count: 1, examples: ['d1'] } });
    await db.exec(`DROP TABLE ${storeLayout(wide).table}; DELETE FROM reembed.profiles WHERE name = 'wide'`);
  });

  it('refuses a profile without a store, and one whose fingerprint changed', async () => {
    const wide = getProfile(manifest, 'wide');
    await expect(verifyStore(db, source, wide)).rejects.toBeInstanceOf(StoreMissingError);
    const changed = getProfile(
      buildManifest({ profiles: { v: { provider: 'hash', dims: 4, metric: 'l2' } } }, null),
      'v',
    );
    await expect(verifyStore(db, source, changed)).rejects.toBeInstanceOf(FingerprintMismatchError);
  });

  it('joins an attached table by its id type; a malformed doc_id is an orphan, not a crash', async () => {
    await db.exec(`CREATE TABLE public.items (id integer PRIMARY KEY, body text)`);
    await db.exec(`INSERT INTO public.items VALUES (1, 'one'), (2, 'two')`);
    const attach = buildManifest(
      {
        source: { table: 'public.items', id: 'id', text: '{body}' },
        profiles: { items: { provider: 'hash', dims: 4 } },
      },
      null,
    );
    const items = getProfile(attach, 'items');
    const itemsSource = await resolveSource(db, attach.source, [items.template!]);
    await ensureStore(db, items);
    const { rows } = await db.query<{ id: string; hash: string }>(
      `SELECT s.id::text AS id, ${contentHashSql(items.template!, items.fingerprint, 's')} AS hash FROM public.items s`,
    );
    const stored = [...rows, { id: 'abc', hash: 'x' }, { id: '99999999999', hash: 'x' }, { id: '1.5', hash: 'x' }];
    await writeVectors(
      db,
      items,
      stored.map((r, i) => ({ docId: r.id, vector: unitVector(4, i), contentHash: r.hash })),
    );
    const report = await verifyStore(db, itemsSource, items);
    expect(report).toMatchObject({ sourceRows: 2, storeRows: 5, currentRows: 2, coverage: 1 });
    expect(failing(report)).toEqual({ orphans: { count: 3, examples: ['1.5', '99999999999', 'abc'] } });
  });
});
