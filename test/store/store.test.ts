import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import { renderTemplate } from '../../src/config/template.js';
import type { Database } from '../../src/db/database.js';
import { contentHashSql, renderSql } from '../../src/source/render.js';
import { DOCUMENTS_TABLE, countDocuments, upsertDocuments } from '../../src/source/managed.js';
import { countStored } from '../../src/store/coverage.js';
import { searchExact } from '../../src/store/search.js';
import { FingerprintMismatchError, ensureStore, storeLayout } from '../../src/store/store.js';
import { InvalidVectorError, writeVectors } from '../../src/store/write.js';
import { createHash } from 'node:crypto';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const manifest = buildManifest(
  {
    profiles: {
      small: { provider: 'hash', dims: 3, metric: 'cosine', template: 'doc {id}: {content}' },
      eucl: { provider: 'hash', dims: 2, metric: 'l2' },
      wide: { provider: 'hash', dims: 3000 },
      huge: { provider: 'hash', dims: 5000 },
      inline: { provider: 'hash', dims: 1024 },
    },
  },
  null,
);
const small = getProfile(manifest, 'small');

describe('store layout', () => {
  it('uses vector up to 2,000 dims, halfvec up to 4,000, exact search beyond', () => {
    expect(storeLayout(small)).toMatchObject({
      table: 'reembed."emb_small"',
      columnType: 'vector',
      index: 'hnsw',
      opclass: 'vector_cosine_ops',
    });
    expect(storeLayout(getProfile(manifest, 'wide'))).toMatchObject({
      columnType: 'halfvec',
      index: 'hnsw',
      opclass: 'halfvec_cosine_ops',
    });
    expect(storeLayout(getProfile(manifest, 'huge'))).toMatchObject({ columnType: 'halfvec', index: 'exact' });
    expect(storeLayout(getProfile(manifest, 'eucl')).distanceOperator).toBe('<->');
  });
});

describe.each(BACKENDS)('store on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
  });
  afterAll(() => db.close());

  it('round-trips any id and text through the managed source unchanged', async () => {
    const docs = [
      { id: "it's; DROP TABLE x --", content: "quote ' and backslash \\ and emoji 🚀 and 中文" },
      { id: ' spaced id ', content: 'line\nbreaks\r\n and tabs\t' },
    ];
    expect(await upsertDocuments(db, docs)).toBe(2);
    expect(await upsertDocuments(db, docs)).toBe(0); // unchanged rows are not rewritten
    const { rows } = await db.query<{ id: string; content: string }>(
      `SELECT id, content FROM ${DOCUMENTS_TABLE} ORDER BY id`,
    );
    expect(rows).toEqual([...docs].sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect(await countDocuments(db)).toBe(2);
  });

  it('renders and hashes in SQL exactly as in JavaScript', async () => {
    const { rows } = await db.query<{ id: string; content: string; text: string; hash: string }>(
      `SELECT d.id, d.content, ${renderSql(small.template!, 'd')} AS text, ${contentHashSql(small.template!, small.fingerprint, 'd')} AS hash
       FROM ${DOCUMENTS_TABLE} d`,
    );
    expect(rows.length).toBe(2);
    for (const row of rows) {
      const text = renderTemplate(small.template!, row);
      expect(row.text).toBe(text);
      expect(row.hash).toBe(createHash('sha256').update(`${small.fingerprint}\n${text}`, 'utf8').digest('hex'));
    }
  });

  it('writes and searches vectors exactly, best first', async () => {
    await ensureStore(db, small);
    await writeVectors(db, small, [
      { docId: 'a', vector: Float32Array.from([1, 0, 0]), contentHash: 'h1' },
      { docId: 'b', vector: Float32Array.from([0.7, 0.7, 0]), contentHash: 'h2' },
      { docId: 'c', vector: Float32Array.from([0, 0, 1]), contentHash: 'h3' },
    ]);
    const hits = await searchExact(db, small, Float32Array.from([1, 0.1, 0]), 2);
    expect(hits.map((h) => h.id)).toEqual(['a', 'b']);
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
    expect(hits[0]!.score).toBeCloseTo(1 / Math.sqrt(1.01), 5);
    expect(await countStored(db, small)).toBe(3);
  });

  it('refuses wrong-dimension, NaN, infinite and zero vectors, storing none of the batch', async () => {
    const before = await countStored(db, small);
    for (const vector of [
      [1, 0],
      [NaN, 1, 0],
      [Infinity, 0, 0],
      [0, 0, 0],
    ]) {
      await expect(
        writeVectors(db, small, [
          { docId: 'ok', vector: Float32Array.from([1, 1, 1]), contentHash: 'x' },
          { docId: 'bad', vector: Float32Array.from(vector), contentHash: 'x' },
        ]),
      ).rejects.toBeInstanceOf(InvalidVectorError);
    }
    expect(await countStored(db, small)).toBe(before);
  });

  it('refuses a profile whose fingerprint changed since its store was created', async () => {
    const changed = getProfile(
      buildManifest({ profiles: { small: { provider: 'hash', dims: 3, normalize: false } } }, null),
      'small',
    );
    await expect(ensureStore(db, changed)).rejects.toBeInstanceOf(FingerprintMismatchError);
    await expect(ensureStore(db, small)).resolves.toMatchObject({ columnType: 'vector' });
  });

  it('stores halfvec profiles and searches them', async () => {
    const wide = getProfile(manifest, 'wide');
    await ensureStore(db, wide);
    const v = new Float32Array(3000);
    v[5] = 1;
    await writeVectors(db, wide, [{ docId: 'w', vector: v, contentHash: 'h' }]);
    const hits = await searchExact(db, wide, v, 1);
    expect(hits).toEqual([{ id: 'w', score: expect.closeTo(1, 3) }]);
  });

  it('keeps vectors of up to about 2,000 dims in the table, not out of line (exact search reads them all)', async () => {
    const profile = getProfile(manifest, 'inline');
    const { table } = await ensureStore(db, profile);
    // 4 KB vectors of random floats: past the default 2 KB, PostgreSQL would move them out of line.
    const rows = Array.from({ length: 40 }, (_, i) => ({
      docId: `d${i}`,
      vector: Float32Array.from({ length: profile.dims }, (_, j) => Math.sin(i * 7919 + j) + 1.5),
      contentHash: 'h',
    }));
    expect(await writeVectors(db, profile, rows)).toBe(rows.length);
    const { rows: sizes } = await db.query<{ toast: string; heap: string }>(
      `SELECT pg_relation_size(reltoastrelid)::text AS toast, pg_relation_size(oid)::text AS heap
       FROM pg_class WHERE oid = $1::regclass`,
      [table],
    );
    expect(Number(sizes[0]!.toast)).toBe(0);
    expect(Number(sizes[0]!.heap)).toBeGreaterThanOrEqual(rows.length * profile.dims * 4);
  });
});
