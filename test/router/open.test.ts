import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/open.js';
import { ConfigError, open } from '../../src/index.js';
import { migrations } from '../../src/schema.js';
import { ServingMetricsRecorder, SERVING_METRICS_TABLE } from '../../src/telemetry/serving-metrics.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';
import { scaled } from '../helpers/slowdown.js';

const CONFIG = {
  source: { managed: true },
  profiles: { base: { provider: 'hash', dims: 64 }, next: { provider: 'hash', dims: 128 } },
  environments: { test: { profile: 'base' } },
};

describe('the library API', () => {
  it('writes, searches and migrates a managed source from code', async () => {
    const rb = await open({ config: CONFIG, db: 'memory://', env: { REEMBED_ENV: 'test' }, actor: 'lib-test' });
    try {
      expect(rb.activeProfile).toBe('base');
      await rb.backfill.run('base');
      const docs = Array.from({ length: 30 }, (_, i) => ({
        id: `d${i}`,
        content: `document ${i} about ${i % 2 ? 'rivers and lakes' : 'mountains and snow'}`,
      }));
      const w = await rb.upsert(docs, { sync: true });
      expect(w).toEqual({ written: 30, embedded: 30 });
      const found = await rb.search('mountains snow', { k: 3 });
      expect(found.profile).toBe('base');
      expect(found.hits).toHaveLength(3);
      expect(found.hits.every((h) => Number(h.id.slice(1)) % 2 === 0)).toBe(true);
      // A new document is searchable on return with sync.
      await rb.upsert([{ id: 'fresh', content: 'volcano eruption lava' }], { sync: true });
      expect((await rb.search('volcano lava', { k: 1 })).hits[0]!.id).toBe('fresh');
      expect(await rb.delete(['fresh'])).toBe(1);
      expect((await rb.search('volcano lava', { k: 1 })).hits[0]!.id).not.toBe('fresh');

      const { migration } = await rb.migration.plan('next');
      await rb.migration.start();
      await rb.backfill.run('next');
      expect((await rb.backfill.coverage('next')).ratio).toBe(1);
      await rb.migration.shadow(0.5);
      await rb.migration.ramp(100);
      await rb.router.refresh();
      expect((await rb.search('rivers', { subject: 'anyone' })).profile).toBe('next');
      await rb.migration.rollback('drill');
      await rb.router.refresh();
      expect((await rb.search('rivers', { subject: 'anyone' })).profile).toBe('base');
      const history = await rb.migration.history();
      expect(history.map((e) => e.action)).toEqual(['plan', 'start', 'shadow', 'ramp', 'rollback']);
      expect(history.every((e) => e.actor === 'lib-test')).toBe(true);
      expect((await rb.migration.status())!.id).toBe(migration.id);
    } finally {
      await rb.close();
    }
  });

  it('embeds the rollout controller: it promotes by the manifest gates as the router records traffic', async () => {
    const config = {
      ...CONFIG,
      rollout: {
        steps: [50, 100],
        interval: '200ms',
        step_min_duration: 0,
        step_min_requests: 5,
        shadow_sample: 0,
        gates: [
          { name: 'coverage', metric: 'coverage', min: 1 },
          { name: 'errors', metric: 'online.error_rate', max: 0, min_samples: 5, interval: '10s' },
        ],
      },
    };
    const rb = await open({ config, db: 'memory://', env: { REEMBED_ENV: 'test' }, actor: 'lib-test' });
    try {
      await rb.upsert(
        Array.from({ length: 20 }, (_, i) => ({ id: `d${i}`, content: `document ${i}` })),
        { sync: false },
      );
      await rb.backfill.run('base');
      await rb.migration.plan('next');
      await rb.migration.start();
      await rb.backfill.run('next');
      const controller = rb.migration.controller({ actor: 'embedded-controller' });
      expect((await controller.tick()).migration.phase).toBe('shadow');
      expect((await controller.tick()).migration).toMatchObject({ phase: 'canary', percent: 50 });
      await rb.router.refresh();
      // No candidate traffic yet: the online gate has no data, so the controller holds.
      await new Promise((r) => setTimeout(r, 50));
      const held = await controller.tick();
      expect(held.tick.decision).toBe('hold');
      expect(held.tick.reason).toMatch(/errors: no data/);
      for (let i = 0; i < 40; i++) await rb.search(`document ${i}`, { subject: `s${i}` });
      await rb.router.metrics!.flush();
      const done = await controller.run({ signal: AbortSignal.timeout(scaled(20_000)) });
      expect(done!.migration.phase).toBe('cutover');
      const actors = (await rb.migration.history()).map((e) => e.actor);
      expect(actors.filter((a) => a === 'embedded-controller')).toHaveLength(3);
    } finally {
      await rb.close();
    }
  });

  it('refuses a gated profile override at open', async () => {
    await expect(
      open({
        config: { ...CONFIG, environments: { production: { profile: 'base' } } },
        db: 'memory://',
        env: { REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'next' },
      }),
    ).rejects.toThrow(/not allowed/);
  });

  it('prunes serving windows past the router’s retention when it starts, and keeps them with retention 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-open-retention-'));
    const windowsOf = async (): Promise<string[]> => {
      const db = await openDatabase(dir, { migrations });
      try {
        const { rows } = await db.query<{ instance: string }>(
          `SELECT instance FROM ${SERVING_METRICS_TABLE} ORDER BY instance`,
        );
        return rows.map((r) => r.instance);
      } finally {
        await db.close();
      }
    };
    const db = await openDatabase(dir, { migrations });
    for (const [instance, age] of [
      ['fresh', '1 hour'],
      ['stale', '2 days'],
    ] as const) {
      const recorder = new ServingMetricsRecorder(db, { instance });
      recorder.request('base', { ok: true, latencyMs: 3 });
      await recorder.close();
      await db.query(
        `UPDATE ${SERVING_METRICS_TABLE} SET recorded_at = clock_timestamp() - $2::interval WHERE instance = $1`,
        [instance, age],
      );
    }
    await db.close();
    const openAt = (retentionMs: number) =>
      open({ config: CONFIG, db: dir, env: { REEMBED_ENV: 'test' }, router: { metrics: { retentionMs } } });
    // A bad retention is refused before anything starts.
    await expect(openAt(-1)).rejects.toThrow(ConfigError);
    // Retention off: nothing is deleted.
    await (await openAt(0)).close();
    expect(await windowsOf()).toEqual(['fresh', 'stale']);
    // One day: the two-day-old window goes (close waits for the prune begun at start).
    await (await openAt(86_400_000)).close();
    expect(await windowsOf()).toEqual(['fresh']);
  });
});

describe.each(BACKENDS)('a fresh %s database', (backend) => {
  it('takes a synchronous upsert before any backfill: the store is made on demand', async () => {
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    const rb = await open({
      config: CONFIG,
      db: server?.url ?? 'memory://',
      env: { REEMBED_ENV: 'test' },
      actor: 'lib-test',
    });
    try {
      const w = await rb.upsert(
        [
          { id: 'a', content: 'volcano eruption lava' },
          { id: 'b', content: 'rivers and lakes' },
        ],
        { sync: true },
      );
      expect(w).toEqual({ written: 2, embedded: 2 });
      const found = await rb.search('volcano lava', { k: 1 });
      expect(found).toMatchObject({ profile: 'base', fallback: false });
      expect(found.hits[0]!.id).toBe('a');
      // The next one goes the same way, without making the store again.
      expect(await rb.upsert([{ id: 'c', content: 'snow' }], { sync: true })).toEqual({ written: 1, embedded: 1 });
    } finally {
      await rb.close();
      await server?.drop();
    }
  });
});
