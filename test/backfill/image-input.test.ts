/**
 * A profile with an image input, end to end through the facade on both databases: it
 * backfills, dead-letters broken images with their reason, re-embeds exactly the rows whose
 * image (or text) changed, and serves text queries through the router.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type Reembed } from '../../src/index.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { QUEUE_TABLE } from '../../src/source/capture.js';
import { BACKENDS, manifestProject } from '../helpers/databases.js';
import { fakeVector, multimodalKey, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { brokenPng, glyphImage } from '../helpers/images.js';

const MANIFEST = `source:
  table: public.fonts
  id: id
  text: "{name}"
profiles:
  text:
    provider: hash
    dims: 32
  glyphs:
    provider: hash-image
    dims: 64
    input:
      text: "{name} {category}"
      image: "{glyph}"
  files:
    provider: hash-image
    dims: 64
    input:
      text: "{name}"
      image: "{glyph_path}"
      image_version: "{updated_at}"
  wide:
    provider: hash-image
    dims: 1536
    input:
      text: "{name}"
      image: "{glyph}"
  remote:
    provider: multimodal
    wire: voyage
    model: fake-clip
    dims: 8
    base_url: FAKE_URL
    input:
      text: "{name}"
      image: "{glyph}"
environments:
  test:
    profile: glyphs
`;

const FONTS = [
  { name: 'Serif Bold', category: 'serif', font: 'bold 38px serif' },
  { name: 'Sans Regular', category: 'sans', font: '38px sans-serif' },
  { name: 'Mono Plain', category: 'monospace', font: '38px monospace' },
  { name: 'Serif Italic', category: 'serif', font: 'italic 38px serif' },
];

describe.each(BACKENDS)('a profile with an image input on %s', (backend) => {
  let rb: Reembed;
  let drop: () => Promise<void>;
  let dir: string;
  let fake: FakeProvider;

  const vectors = async (profile: string) => {
    const { rows } = await rb.db.query<{ doc_id: string; embedding: string; embedded_at: unknown }>(
      `SELECT doc_id, embedding::text AS embedding, embedded_at::text AS embedded_at FROM reembed.emb_${profile} ORDER BY doc_id`,
    );
    return new Map(rows.map((r) => [r.doc_id, r.embedding]));
  };
  const queued = async (profile: string) =>
    (
      await rb.db.query<{ doc_id: string }>(`SELECT doc_id FROM ${QUEUE_TABLE} WHERE profile = $1 ORDER BY doc_id`, [
        profile,
      ])
    ).rows.map((r) => r.doc_id);

  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 8 });
    const project = await manifestProject(backend, MANIFEST.replace('FAKE_URL', fake.url));
    drop = project.drop;
    dir = mkdtempSync(join(tmpdir(), 'reembed-glyphs-'));
    // The source table exists before reembed opens (it resolves the source when it opens).
    const db = await openDatabase(project.target, { migrations });
    await db.exec(`CREATE TABLE public.fonts (
      id integer PRIMARY KEY, name text NOT NULL, category text NOT NULL, glyph bytea,
      glyph_path text, updated_at integer NOT NULL DEFAULT 1, views integer NOT NULL DEFAULT 0)`);
    for (const [i, f] of FONTS.entries()) {
      const path = join(dir, `${i + 1}.png`);
      const png = glyphImage('Aa Bb Gg 0123', { font: f.font });
      writeFileSync(path, png);
      await db.query(`INSERT INTO public.fonts (id, name, category, glyph, glyph_path) VALUES ($1, $2, $3, $4, $5)`, [
        i + 1,
        f.name,
        f.category,
        png,
        path,
      ]);
    }
    // Broken images: bytes that do not decode, bytes that are no image, a file that is not there.
    await db.query(
      `INSERT INTO public.fonts (id, name, category, glyph, glyph_path) VALUES
      (5, 'Broken Face', 'serif', $1, $3), (6, 'Text Face', 'sans', $2, $3)`,
      [brokenPng(), Buffer.from('just some text'), join(dir, 'missing.png')],
    );
    await db.close();
    rb = await open({ config: project.config, db: project.target, env: { REEMBED_ENV: 'test' } });
  });
  afterAll(async () => {
    await rb?.close();
    await drop?.();
    await fake?.close();
  });

  it('backfills the good images and dead-letters the broken ones with their reason', async () => {
    const run = await rb.backfill.run('glyphs', { maxAttempts: 1 });
    expect(run).toMatchObject({ embedded: 4, deferred: 2 });
    expect(run.coverage).toMatchObject({ sourceRows: 6, current: 4, missing: 2 });
    const failures = (await rb.failures.list({ profile: 'glyphs' })).failures.sort((a, b) =>
      a.docId.localeCompare(b.docId),
    );
    expect(failures.map((f) => [f.docId, f.errorClass])).toEqual([
      ['5', 'IMAGE_INVALID'],
      ['6', 'IMAGE_INVALID'],
    ]);
    expect(failures[0]!.message).toMatch(/image decode/);
    expect(failures[1]!.message).toMatch(/image format/);
    // Broken images never reach the store.
    expect([...(await vectors('glyphs')).keys()]).toEqual(['1', '2', '3', '4']);
    // Same text, different image: different vectors (the image is part of the input).
    const v = await vectors('glyphs');
    expect(new Set(v.values()).size).toBe(4);
  });

  it('writes a bulk page (on PostgreSQL by COPY straight into the store) guarded by the hash over text and image', async () => {
    // 4 rows × 1,536 dims is past the size where a page is written by binary COPY.
    const run = await rb.backfill.run('wide', { maxAttempts: 1 });
    expect(run).toMatchObject({ embedded: 4, deferred: 2 });
    expect(run.coverage).toMatchObject({ sourceRows: 6, current: 4, missing: 2 });
    expect([...(await vectors('wide')).keys()]).toEqual(['1', '2', '3', '4']);
  });

  it('re-embeds exactly the rows whose image changed', async () => {
    const before = await vectors('glyphs');
    await rb.db.query(`UPDATE public.fonts SET glyph = $1 WHERE id = 1`, [
      glyphImage('Aa Bb Gg 0123', { font: 'bold 30px monospace' }),
    ]);
    await rb.db.exec(`UPDATE public.fonts SET views = views + 1`); // not an input
    await rb.db.exec(`UPDATE public.fonts SET glyph = glyph WHERE id = 2`); // the same bytes
    expect(await queued('glyphs')).toEqual(['1']);
    const stats = await rb.backfill.work({ drain: true, profiles: ['glyphs'] });
    expect(stats.reduce((sum, s) => sum + s.rowsEmbedded, 0)).toBe(1);
    const after = await vectors('glyphs');
    expect(after.get('1')).not.toBe(before.get('1'));
    for (const id of ['2', '3', '4']) expect(after.get(id)).toBe(before.get(id));
    expect((await rb.backfill.coverage('glyphs')).current).toBe(4);
  });

  it('embeds a dead-lettered row once its image is fixed', async () => {
    await rb.db.query(`UPDATE public.fonts SET glyph = $1 WHERE id = 5`, [glyphImage('Aa Bb', { font: '38px serif' })]);
    await rb.backfill.work({ drain: true, profiles: ['glyphs'] });
    expect((await rb.failures.list({ profile: 'glyphs' })).failures.map((f) => f.docId)).toEqual(['6']);
    expect([...(await vectors('glyphs')).keys()]).toEqual(['1', '2', '3', '4', '5']);
  });

  it('hashes a path by its text and version: a new version re-embeds, a rewritten file alone does not', async () => {
    const run = await rb.backfill.run('files', { maxAttempts: 1 });
    expect(run).toMatchObject({ embedded: 4, deferred: 2 });
    const reasons = (await rb.failures.list({ profile: 'files' })).failures.map((f) => f.message);
    expect(reasons.every((m) => /image unreadable/.test(m))).toBe(true);
    const before = await vectors('files');
    // The file behind row 2 changes, the row does not: the database cannot see it.
    writeFileSync(join(dir, '2.png'), glyphImage('Zz Yy', { font: 'bold 38px serif' }));
    await rb.db.exec(`UPDATE public.fonts SET views = views + 1 WHERE id = 2`);
    expect(await queued('files')).toEqual([]);
    // Bumping the version column is what says the image changed.
    await rb.db.exec(`UPDATE public.fonts SET updated_at = 2 WHERE id = 2`);
    expect(await queued('files')).toEqual(['2']);
    await rb.backfill.work({ drain: true, profiles: ['files'] });
    const after = await vectors('files');
    expect(after.get('2')).not.toBe(before.get('2'));
    expect(after.get('1')).toBe(before.get('1'));
  });

  it('backfills through a multimodal wire: the images the database holds are the ones sent', async () => {
    const run = await rb.backfill.run('remote', { maxAttempts: 1 });
    expect(run).toMatchObject({ embedded: 5, deferred: 1 });
    const { rows } = await rb.db.query<{ id: number; name: string; glyph: Uint8Array }>(
      `SELECT id, name, glyph FROM public.fonts WHERE id <> 6 ORDER BY id`,
    );
    // Broken images never reach the provider.
    expect(fake.requests.flatMap((r) => r.inputs).sort()).toEqual(
      rows.map((r) => multimodalKey(r.name, r.glyph)).sort(),
    );
    const stored = await vectors('remote');
    for (const r of rows) {
      const v = fakeVector(multimodalKey(r.name, r.glyph), 8);
      const n = Math.hypot(...v);
      const parsed = JSON.parse(stored.get(String(r.id))!) as number[];
      parsed.forEach((x, j) => expect(x).toBeCloseTo(v[j]! / n, 5));
    }
  });

  it('serves a text query through the router, embedding the text alone', async () => {
    const query = await rb.embed('Mono Plain monospace', { query: true });
    expect(query).toMatchObject({ profile: 'glyphs', dims: 64 });
    // The first half of a hash-image vector is the image's: a text query leaves it empty.
    expect(query.vector.slice(0, 32).every((x) => x === 0)).toBe(true);
    expect(query.vector.slice(32).some((x) => x !== 0)).toBe(true);
    const found = await rb.search('Mono Plain monospace', { k: 3 });
    expect(found.profile).toBe('glyphs');
    expect(found.hits[0]!.id).toBe('3');
  });
});
