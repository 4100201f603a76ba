import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Database } from '../../src/db/database.js';
import { meanPairwiseCosine } from '../../src/eval/metrics.js';
import { Router } from '../../src/router/router.js';
import { storedVectors } from '../../src/store/stored-vectors.js';
import { readServingMetrics } from '../../src/telemetry/serving-metrics.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe('mean pairwise cosine', () => {
  it('is 1 for copies, 0 for orthogonal vectors, the mean over pairs otherwise, null for one vector', () => {
    const v = (...xs: number[]) => Float32Array.from(xs);
    expect(meanPairwiseCosine([v(1, 0), v(2, 0)])).toBeCloseTo(1, 12);
    expect(meanPairwiseCosine([v(1, 0), v(0, 3)])).toBeCloseTo(0, 12);
    // Pairs: (a,b) 1, (a,c) 0, (b,c) 0.
    expect(meanPairwiseCosine([v(1, 0), v(1, 0), v(0, 1)])).toBeCloseTo(1 / 3, 12);
    expect(meanPairwiseCosine([v(1, 0), v(0, 0)])).toBe(0);
    expect(meanPairwiseCosine([v(1, 0)])).toBeNull();
  });
});

describe.each(BACKENDS)('online quality signals on %s', (backend) => {
  let db: Database;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
  });
  afterEach(() => db.close());

  it('records the top-1 score of every answered search and the top-5 pairwise cosine of the sampled ones', async () => {
    await createArticles(db, 60);
    const manifest = articlesManifest();
    const source = await articlesSource(db, manifest);
    const small = getProfile(manifest, 'small');
    await prepareBackfill(db, source, small, manifest.profiles);
    await runBackfill(db, { source, profiles: [small] });
    // Every other search is sampled: random() alternates 0 (sampled) and 0.99 (not) at sample 0.5.
    let n = 0;
    const router = await new Router(db, manifest, source, {
      defaultProfile: 'small',
      hotDocuments: false,
      qualitySample: 0.5,
      random: () => (n++ % 2 === 0 ? 0 : 0.99),
    }).start();
    const responses = [];
    try {
      for (const q of ['article 3', 'article 17 body', 'title 42', 'article 59'])
        responses.push(await router.search(q, { k: 5 }));
      await router.drainShadows();
      await router.metrics!.flush();
    } finally {
      await router.close();
    }
    const expectedTop1 = responses.reduce((s, r) => s + r.hits[0]!.score, 0) / responses.length;
    const sampled = [responses[0]!, responses[2]!];
    const cosines = [];
    for (const r of sampled) {
      const vectors = await storedVectors(
        db,
        small,
        r.hits.map((h) => h.id),
      );
      cosines.push(meanPairwiseCosine(r.hits.map((h) => vectors.get(h.id)!))!);
    }
    const summary = await readServingMetrics(db, 'small', { from: new Date(0) });
    expect(summary.quality.top1Score).toBeCloseTo(expectedTop1, 9);
    expect(summary.quality.sampled).toBe(2);
    expect(summary.quality.top5PairwiseCosine).toBeCloseTo((cosines[0]! + cosines[1]!) / 2, 6);
    expect(summary.quality.top5PairwiseCosine).toBeGreaterThan(0);
    expect(summary.quality.top5PairwiseCosine).toBeLessThan(1);
  });
});
