import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import type { Manifest } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { Controller } from '../../src/gates/controller.js';
import { listMeasurements } from '../../src/gates/tables.js';
import { planMigration, startMigration, type LifecycleContext } from '../../src/migration/lifecycle.js';
import { buildIndex, dropIndex, indexStatus } from '../../src/store/index.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { backfillPlanner } from '../../src/backfill/planner.js';

/**
 * The ANN agreement gate with the real check (no stub): it measures the candidate's HNSW
 * index against exact search, holds when the index is missing, and does not apply to a store
 * over pgvector's index limit, whose every search is exact.
 */
describe.each(BACKENDS)('ANN agreement gate on %s', (backend) => {
  let db: Database;
  let manifest: Manifest;
  let ctx: LifecycleContext;

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 40);
    manifest = articlesManifest(
      {
        huge: { provider: 'hash', dims: 4100 },
        // Four lists over 40 rows, all four probed: the IVFFlat search is exact.
        ivf: { provider: 'hash', dims: 64, template: '{body}', index: { type: 'ivfflat', lists: 4, probes: 4 } },
        // One list probed of eight: it misses neighbours.
        ivf_narrow: {
          provider: 'hash',
          dims: 48,
          template: '{title}',
          index: { type: 'ivfflat', lists: 8, probes: 1 },
        },
      },
      {
        rollout: {
          steps: [100],
          interval: '1s',
          step_min_duration: 0,
          step_min_requests: 0,
          shadow_sample: 0,
          ann_queries: 20,
          gates: [{ name: 'ann', metric: 'ann.overlap', min: 0.95 }],
        },
      },
    );
    const source = await articlesSource(db, manifest);
    ctx = { db, manifest, source, actor: 'ops', backfill: backfillPlanner };
    await prepareBackfill(db, source, getProfile(manifest, 'small'), manifest.profiles);
    await runBackfill(db, { source, profiles: [getProfile(manifest, 'small')] });
  });
  afterEach(() => db.close());

  /** Starts small → candidate and backfills the candidate, building its index as `reembed backfill` does. */
  async function migrateTo(candidate: string) {
    const m = await startMigration(ctx, (await planMigration(ctx, 'small', candidate)).migration);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, candidate)] });
    await buildIndex(db, getProfile(manifest, candidate));
    return m;
  }

  async function annMeasurements(migrationId: string) {
    return (await listMeasurements(db, migrationId)).filter((x) => x.gate === 'ann');
  }

  it('measures the candidate’s index against exact search and promotes on agreement', async () => {
    const m = await migrateTo('big');
    expect((await indexStatus(db, getProfile(manifest, 'big'))).exists).toBe(true);
    const report = await new Controller({ db, manifest, source: ctx.source }).tick();
    expect(report.tick.decision).toBe('promote');
    const [ann] = await annMeasurements(m.id);
    expect(ann!.verdict).toBe('pass');
    expect(ann!.candidate).toBeGreaterThanOrEqual(0.95);
    expect(ann!.details).toMatchObject({ queries: 20, usedIndex: true });
  });

  it('holds, saying why, while the candidate has no index', async () => {
    const m = await migrateTo('big');
    expect(await dropIndex(db, getProfile(manifest, 'big'))).toBe(true);
    const report = await new Controller({ db, manifest, source: ctx.source }).tick();
    expect(report.tick.decision).toBe('hold');
    expect(report.tick.reason).toMatch(/ann: measuring failed: profile big has no HNSW index/);
    const [ann] = await annMeasurements(m.id);
    expect(ann!.verdict).toBe('no_data');
  });

  it('measures an IVFFlat candidate’s index at its probes and promotes on agreement', async () => {
    const m = await migrateTo('ivf');
    expect(await indexStatus(db, getProfile(manifest, 'ivf'))).toMatchObject({
      type: 'ivfflat',
      options: { lists: 4 },
    });
    const report = await new Controller({ db, manifest, source: ctx.source }).tick();
    expect(report.tick.decision).toBe('promote');
    const [ann] = await annMeasurements(m.id);
    expect(ann!.verdict).toBe('pass');
    expect(ann!.candidate).toBe(1);
    expect(ann!.details).toMatchObject({ queries: 20, kind: 'ivfflat', probes: 4, usedIndex: true });
  });

  it('does not promote an IVFFlat candidate whose probes miss neighbours: the gate fails', async () => {
    const m = await migrateTo('ivf_narrow');
    const report = await new Controller({ db, manifest, source: ctx.source }).tick();
    expect(report.tick.decision).not.toBe('promote');
    const [ann] = await annMeasurements(m.id);
    expect(ann!.verdict).toBe('fail');
    expect(ann!.candidate).toBeLessThan(0.95);
    expect(ann!.details).toMatchObject({ kind: 'ivfflat', probes: 1, usedIndex: true });
  });

  it('holds, saying why, while the IVFFlat candidate has no index', async () => {
    const m = await migrateTo('ivf');
    expect(await dropIndex(db, getProfile(manifest, 'ivf'))).toBe(true);
    const report = await new Controller({ db, manifest, source: ctx.source }).tick();
    expect(report.tick.decision).toBe('hold');
    expect(report.tick.reason).toMatch(/ann: measuring failed: profile ivf has no IVFFlat index/);
    expect((await annMeasurements(m.id))[0]!.verdict).toBe('no_data');
  });

  it('leaves the gate out for a store over pgvector’s index limit: every search of it is exact', async () => {
    const m = await migrateTo('huge');
    const report = await new Controller({ db, manifest, source: ctx.source }).tick();
    expect(report.tick.decision).toBe('promote');
    expect(await annMeasurements(m.id)).toEqual([]);
  });
});
