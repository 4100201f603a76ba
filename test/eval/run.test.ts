import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import { DEMO_MANIFEST } from '../../src/demo/demo.js';
import { openDatabase } from '../../src/db/open.js';
import { readBeirDataset } from '../../src/eval/beir.js';
import { runEval } from '../../src/eval/run.js';
import { profileForCorpus } from '../../src/eval/prepare.js';
import { migrations } from '../../src/schema.js';
import { upsertDocuments } from '../../src/source/managed.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';
import { TINY_EXPECTED, withDatabase, writeTinyDataset } from './fixture.js';

const manifest = buildManifest(DEMO_MANIFEST, null);

const small = getProfile(manifest, 'hash_small');
const large = getProfile(manifest, 'hash_large');

describe.each(BACKENDS)('eval of a tiny BEIR dataset on %s', (backend) => {
  let target: string;
  let drop = async () => {};
  beforeAll(async () => {
    if (backend === 'postgres') {
      const server = await createServerDatabase();
      target = server.url;
      drop = server.drop;
    } else {
      // A directory, not memory://: the refusal test writes documents and opens it again.
      target = join(mkdtempSync(join(tmpdir(), 'reembed-eval-')), 'db');
    }
  });
  afterAll(() => drop());

  it('eval --ann searches an IVFFlat profile at its probes', async () => {
    const dataset = await readBeirDataset(writeTinyDataset());
    const ivf = { ...small, index: { type: 'ivfflat' as const, lists: 2, probes: 2 } };
    /** A new empty database per evaluation (eval refuses one that holds documents). */
    const evaluate = async (probes?: number) => {
      const fresh = backend === 'postgres' ? await createServerDatabase() : { url: 'memory://', drop: async () => {} };
      try {
        return (await withDatabase(fresh.url, (db) => runEval(dataset, { profiles: [ivf], db, ann: true, probes })))
          .report.profiles[0]!;
      } finally {
        await fresh.drop();
      }
    };
    const p = await evaluate();
    expect(p.ann).toMatchObject({ index: 'ivfflat', parameter: 'probes', value: 2, efSearch: null });
    // Both lists probed: the IVFFlat search is exact whichever plan ran.
    expect(p.ann!.metrics).toEqual(p.exact.metrics);
    expect((await evaluate(1)).ann).toMatchObject({ parameter: 'probes', value: 1 });
  });

  it('reports the hand-computed figures of a hash profile', async () => {
    const dataset = await readBeirDataset(writeTinyDataset());
    const steps: string[] = [];
    const { report, rankings } = await withDatabase(target, (db) =>
      runEval(dataset, {
        profiles: [small, large],
        db,
        ann: true,
        reporter: { step: (m) => steps.push(m), progress() {}, progressDone() {} },
      }),
    );
    expect(report.database.kind).toBe(backend === 'postgres' ? 'postgres' : 'pglite');
    expect(report.dataset).toMatchObject({
      name: expect.stringMatching(/^reembed-beir-/),
      documents: 6,
      queries: 5,
      judgments: 7,
      missingDocuments: 1,
      missingDocumentExamples: ['d99'],
    });
    expect(report.dataset.warnings).toEqual([
      expect.stringMatching(/1 query ids in .* are not in/),
      expect.stringMatching(/^1 judged documents are not in the corpus \(e\.g\. d99\): they count as relevant/),
    ]);
    expect(steps).toContainEqual(expect.stringMatching(/^warning: 1 judged documents/));

    for (const p of report.profiles) {
      const exact = rankings.get(p.profile)!.exact;
      expect(exact.get('q1')![0]!.id, p.profile).toBe('d1');
      expect(
        exact
          .get('q2')!
          .slice(0, 2)
          .map((h) => h.id),
      ).toEqual(['d3', 'd6']);
      expect(
        exact
          .get('q3')!
          .slice(0, 2)
          .map((h) => h.id),
      ).toEqual(['d4', 'd5']);
      expect(exact.get('q1')).toHaveLength(6); // the whole corpus: fewer documents than k = 50
      expect(exact.has('q6')).toBe(false);
      const metrics = { ...p.exact.metrics };
      expect(metrics).toEqual({ ...TINY_EXPECTED, ndcgAt10: expect.closeTo(TINY_EXPECTED.ndcgAt10, 12) });
      // On six rows the planner sorts them all rather than scan the index: ANN equals exact.
      expect(p.ann).toMatchObject({ index: 'hnsw', efSearch: 50, indexScan: false });
      expect(p.ann!.metrics).toEqual(p.exact.metrics);
      expect(p.backfill.rows).toBe(6);
      expect(p.embedLatency.p50Ms).toBeGreaterThan(0);
      expect(p.exact.latency.p95Ms).toBeGreaterThanOrEqual(p.exact.latency.p50Ms);
      expect(p.queriesPerSecond).toBeGreaterThan(0);
      expect(p).toMatchObject({ provider: 'hash', template: '{content}', replacedTemplate: null, model: null });
    }
    expect(report.profiles.map((p) => [p.profile, p.dims, p.fingerprint])).toEqual([
      ['hash_small', 256, small.fingerprint],
      ['hash_large', 1024, large.fingerprint],
    ]);
    // Both put the judged documents at the same ranks, so nDCG@10 ties on all four judged queries.
    expect(report.comparisons).toEqual([
      {
        control: 'hash_small',
        candidate: 'hash_large',
        k: 10,
        meanOverlap: expect.any(Number),
        meanRbo: expect.any(Number),
        ndcgAt10: { wins: 0, losses: 0, ties: 4, meanDelta: 0 },
      },
    ]);
    // Six documents in both top 10s: overlap@10 is 6/10 by its definition (|A ∩ B| / k).
    expect(report.comparisons[0]!.meanOverlap).toBeCloseTo(0.6, 12);
  });

  it('refuses a database that already holds documents (exit 2) and duplicate profiles', async () => {
    const db = await openDatabase(target, { migrations });
    await upsertDocuments(db, [{ id: 'x', content: 'already here' }]);
    await db.close();
    const dataset = await readBeirDataset(writeTinyDataset());
    await withDatabase(target, async (db) => {
      await expect(runEval(dataset, { profiles: [small], db })).rejects.toMatchObject({
        code: 'EVAL_NEEDS_EMPTY_DATABASE',
        exitCode: 2,
      });
      await expect(runEval(dataset, { profiles: [small, small], db })).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
      });
      await expect(runEval(dataset, { profiles: [], db })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    });
  });
});

describe('profiles written for an attached table', () => {
  it('are evaluated over {content} with the fingerprint of what was measured', () => {
    const attached = buildManifest(
      {
        source: { table: 'public.articles', id: 'id', text: '{title}\n\n{body}' },
        profiles: { p: { provider: 'hash', dims: 64 }, q: { provider: 'hash', dims: 64, template: '{body}' } },
      },
      null,
    );
    const p = profileForCorpus(getProfile(attached, 'p'));
    expect(p.replacedTemplate).toBe('{title}\n\n{body}');
    expect(p.profile.template).toBe('{content}');
    expect(p.profile.fingerprint).not.toBe(getProfile(attached, 'p').fingerprint);
    // Same settings over the managed text: the fingerprint a managed manifest gives it.
    const managed = buildManifest({ profiles: { p: { provider: 'hash', dims: 64 } } }, null);
    expect(p.profile.fingerprint).toBe(getProfile(managed, 'p').fingerprint);
    expect(profileForCorpus(small)).toEqual({ profile: small, replacedTemplate: null });
  });

  it('an image input is evaluated on its text alone, under the fingerprint of a text profile', () => {
    const attached = buildManifest(
      {
        source: { table: 'public.fonts', id: 'id', text: '{name}' },
        profiles: { g: { provider: 'hash-image', dims: 64, input: { text: '{content}', image: '{glyph}' } } },
      },
      null,
    );
    const g = profileForCorpus(getProfile(attached, 'g'));
    expect(g.profile.input).toBeUndefined();
    expect(g.profile.template).toBe('{content}');
    const managed = buildManifest({ profiles: { g: { provider: 'hash-image', dims: 64 } } }, null);
    expect(g.profile.fingerprint).toBe(getProfile(managed, 'g').fingerprint);
  });
});
