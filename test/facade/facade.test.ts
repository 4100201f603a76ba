/**
 * The Reembed facade drives every command group of the CLI, on the embedded database and on
 * PostgreSQL: profiles, embed, load, search/upsert/delete, backfill, worker, failures, status,
 * verify (with the ANN check), tune, eval, migrations, the controller, metrics and detach. The
 * tests of one backend share a database and run in order, each with a facade of its own.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashProvider } from '../../src/embedders/hash.js';
import { ProviderRejectedError } from '../../src/embedders/errors.js';
import type { Profile } from '../../src/config/profile.js';
import {
  ConcurrentChangeError,
  ConfigError,
  open,
  ProfileGateError,
  ReembedError,
  type OpenOptions,
  type Reembed,
} from '../../src/index.js';
import { writeTinyDataset } from '../eval/fixture.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';

const MANIFEST = `source:
  managed: true
profiles:
  base:
    provider: hash
    dims: 32
  next:
    provider: hash
    dims: 48
environments:
  test:
    profile: base
rollout:
  steps: [50, 100]
  interval: 200ms
  step_min_duration: 0
  step_min_requests: 0
  shadow_sample: 0
  gates:
    - name: coverage
      metric: coverage
      min: 1
`;

const ENV = { REEMBED_ENV: 'test' };
const DOCS = 40;

/** The hash provider, except that a text containing "poison" is refused (a row for the failures table). */
function poisonProvider(profile: Profile) {
  const hash = new HashProvider(profile);
  return {
    provider: 'hash' as const,
    embedBatch: async (texts: string[]) => {
      if (texts.some((t) => t.includes('poison'))) throw new ProviderRejectedError(profile.name, 400, 'poisoned');
      return hash.embedBatch(texts);
    },
  };
}

describe.each(BACKENDS)('the Reembed facade on %s', (backend) => {
  let target: string;
  let drop: (() => Promise<void>) | null = null;
  let manifestFile: string;
  const facade = (options: Omit<OpenOptions, 'db' | 'config' | 'env'> = {}) =>
    open({ config: manifestFile, db: target, env: ENV, router: false, ...options });
  const using = async <T>(rb: Reembed, fn: (rb: Reembed) => Promise<T>): Promise<T> => {
    try {
      return await fn(rb);
    } finally {
      await rb.close();
    }
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), `reembed-facade-${backend}-`));
    manifestFile = join(dir, 'reembed.yaml');
    writeFileSync(manifestFile, MANIFEST);
    if (backend === 'pglite') target = join(dir, 'data');
    else ({ url: target, drop } = await createServerDatabase());
  });
  afterAll(async () => {
    await drop?.();
  });

  it('profiles, schema, embed and load', async () => {
    await using(await facade(), async (rb) => {
      expect(rb.profiles.list().map((p) => p.name)).toEqual(['base', 'next']);
      expect(rb.profiles.get('next').dims).toBe(48);
      expect(() => rb.profiles.get('nope')).toThrow(ConfigError);
      const active = rb.profiles.active();
      expect(active.profile).toBe('base');
      expect(active.banner).toMatch(/environment=test · embedding_profile=base \(baseline\)/);
      const check = rb.profiles.check();
      expect(check).toMatchObject({ environment: 'test', ok: true });
      expect(check.matrix.find((r) => r.current)).toMatchObject({ active: 'base', problems: [] });
      const production = rb.profiles.check('production');
      expect(production.ok).toBe(false);
      expect(production.matrix.find((r) => r.current)!.problems[0]).toMatch(/no baseline profile/);

      // Nothing is open until a method needs it.
      expect(() => rb.db).toThrow(ReembedError);
      expect(() => rb.router).toThrow(/not open/);

      const embedded = await rb.embed('hello world', { query: true });
      expect(embedded).toMatchObject({ profile: 'base', purpose: 'query', dims: 32 });
      expect(embedded.vector).toHaveLength(32);
      expect(embedded.norm).toBeCloseTo(1, 5);

      const schema = await rb.schema();
      expect(schema.schemaVersion).toBeGreaterThan(0);
      expect(rb.db.target).toBe(schema.database);

      const file = join(mkdtempSync(join(tmpdir(), 'reembed-facade-load-')), 'docs.jsonl');
      const lines = Array.from({ length: DOCS }, (_, i) =>
        JSON.stringify({
          id: `d${i}`,
          text: `document ${i} about ${i % 2 ? 'rivers and lakes' : 'mountains and snow'}`,
        }),
      );
      writeFileSync(file, [...lines, JSON.stringify({ id: 'bad', text: 'a poison pill' })].join('\n') + '\n');
      let started: string | null = null;
      const loaded = await rb.load(file, { batchSize: 7, onStart: (input) => (started = input.name) });
      expect(started).toBe(file);
      expect(loaded).toMatchObject({ rows: DOCS + 1, inserted: DOCS + 1, updated: 0, format: 'plain' });
      expect(loaded.database).toBe(schema.database);
      expect((await rb.load(file)).unchanged).toBe(DOCS + 1);
    });
  });

  it('backfill: plan, run, pause/resume/throttle, status, failures, worker, status report', async () => {
    await using(await facade(), async (rb) => {
      const plan = await rb.backfill.plan('base', { chunkSize: 10 });
      expect(plan).toMatchObject({ dryRun: true, profile: 'base', rows: DOCS + 1, toEmbed: DOCS + 1, chunks: 5 });
      expect((await rb.backfill.plan('base', { filter: 'id=d3' })).rows).toBe(1);
      await expect(rb.backfill.plan('base', { filter: 'nope=1' })).rejects.toThrow(ConfigError);

      let start: { toEmbed: number; sourceRows: number } | null = null;
      const run = await rb.backfill.run('base', {
        chunkSize: 10,
        maxAttempts: 1,
        index: true,
        embedderOptions: { provider: poisonProvider },
        onStart: (s) => (start = s),
      });
      expect(start).toMatchObject({ toEmbed: DOCS + 1, sourceRows: DOCS + 1 });
      expect(run).toMatchObject({ profile: 'base', embedded: DOCS, deferred: 1, stopped: false });
      expect(run.coverage).toMatchObject({ current: DOCS, sourceRows: DOCS + 1 });
      // Coverage short of 100%: no index yet.
      expect(run.index).toBeNull();

      const failures = await rb.failures.list({ profile: 'base' });
      expect(failures.total).toBe(1);
      expect(failures.failures[0]).toMatchObject({ profile: 'base', docId: 'bad', errorClass: 'PROVIDER_REJECTED' });

      expect(await rb.backfill.pause('base')).toEqual({ profile: 'base', paused: true, rpm: null });
      expect(await rb.backfill.throttle('base', 120)).toEqual({ profile: 'base', paused: true, rpm: 120 });
      expect(await rb.backfill.resume('base')).toEqual({ profile: 'base', paused: false, rpm: 120 });
      expect(await rb.backfill.throttle('base', null)).toEqual({ profile: 'base', paused: false, rpm: null });
      const status = await rb.backfill.status('base');
      expect(status.control).toEqual({ paused: false, rpm: null });
      expect(status.coverage.missing).toBe(1);

      const report = await rb.status();
      expect(report.database).toBe(rb.db.target);
      expect(report.source).toBe('reembed.documents');
      expect(report.captureInstalled).toBe(true);
      expect(report.profiles).toHaveLength(1);
      expect(report.profiles[0]).toMatchObject({ profile: 'base', capture: true, failures: 1, queued: 0 });

      expect(await rb.failures.retry({ profile: 'base' })).toBe(1);
      expect((await rb.status()).profiles[0]).toMatchObject({ failures: 0, queued: 1 });
      let announced: string[] = [];
      const stats = await rb.backfill.work({ drain: true, onStart: (s) => (announced = s.profiles) });
      expect(announced).toEqual(['base']);
      expect(stats.reduce((a, s) => a + s.rowsEmbedded, 0)).toBe(1);
      expect((await rb.backfill.coverage('base')).ratio).toBe(1);
      const after = (await rb.status()).profiles[0]!;
      expect(after).toMatchObject({ queued: 0, failures: 0 });
      // The draining worker built the index once the backfill was complete.
      expect(after.index).toMatchObject({ exists: true, valid: true });
      expect(await rb.failures.drop({ profile: 'base' })).toBe(0);
    });
  });

  it('verify with the ANN check, and tune', async () => {
    await using(await facade(), async (rb) => {
      const plain = await rb.verify();
      expect(plain).toMatchObject({ profile: 'base', ok: true, sourceRows: DOCS + 1, currentRows: DOCS + 1 });
      expect('ann' in plain).toBe(false);
      let annFor = '';
      const withAnn = await rb.verify({ ann: { queries: 10 }, onAnnStart: (p) => (annFor = p) });
      expect(annFor).toBe('base');
      if (!('ann' in withAnn) || 'error' in withAnn.ann) throw new Error('expected an ANN report');
      expect(withAnn.checksOk).toBe(true);
      expect(withAnn.ann).toMatchObject({ queries: 10, k: 10 });
      expect(withAnn.ok).toBe(withAnn.ann.ok);
      // A profile without a store: verify fails with a typed error.
      await expect(rb.verify({ profile: 'next' })).rejects.toMatchObject({ code: 'STORE_MISSING' });

      const dry = await rb.tune({ values: [10, 40], queries: 10, dryRun: true });
      expect(dry.rows.map((r) => r.value)).toEqual([10, 40]);
      expect(dry).toMatchObject({ dryRun: true, written: null });
      const tuned = await rb.tune({ values: [40], queries: 10, maxRecallLoss: 1 });
      expect(tuned.choice).toBe(40);
      expect(tuned.written).toMatchObject({ file: manifestFile, changed: true });
      expect(readFileSync(manifestFile, 'utf8')).toMatch(/ef_search: 40/);
    });
  });

  it('search, upsert and delete through the router; serving metrics show and prune', async () => {
    await using(await facade({ router: { metrics: { retentionMs: 0 } } }), async (rb) => {
      expect(rb.activeProfile).toBe('base');
      expect(await rb.upsert([{ id: 'fresh', content: 'volcano eruption lava' }], { sync: true })).toEqual({
        written: 1,
        embedded: 1,
      });
      const found = await rb.search('volcano lava', { k: 3 });
      expect(found.profile).toBe('base');
      expect(found.hits[0]!.id).toBe('fresh');
      const filtered = await rb.search('rivers', { k: 5, filter: 'id=d1' });
      expect(filtered.hits.map((h) => h.id)).toEqual(['d1']);
      expect(await rb.delete(['fresh'])).toBe(1);
      expect((await rb.search('volcano lava', { k: 1 })).hits[0]!.id).not.toBe('fresh');
      await rb.router.metrics!.flush();
    });
    await using(await facade(), async (rb) => {
      const shown = await rb.metrics.show({ since: '1h' });
      const base = shown.profiles.find((p) => p.profile === 'base');
      expect(base?.requests).toBe(3);
      expect(Date.parse(shown.since)).toBeLessThan(Date.now() + 60_000);
      const counted = await rb.metrics.prune({ olderThan: 0, dryRun: true });
      expect(counted).toMatchObject({ dryRun: true, skipped: false });
      expect(counted.deleted).toBeGreaterThan(0);
      expect((await rb.metrics.show({ since: 3_600_000 })).profiles.find((p) => p.profile === 'base')?.requests).toBe(
        3,
      );
      const pruned = await rb.metrics.prune({ olderThan: 0 });
      expect(pruned.deleted).toBe(counted.deleted);
      expect((await rb.metrics.show()).profiles).toEqual([]);
    });
  });

  it('migrations: plan, abort, start, the controller, ramp, rollback, cutover, finalize, cleanup, reports', async () => {
    await using(await facade({ actor: 'facade-test' }), async (rb) => {
      expect(await rb.migration.statusReport()).toEqual({ migration: null });
      expect(await rb.migration.historyReport()).toEqual({ migration: null, events: [], ticks: [] });

      const first = await rb.migration.plan('next');
      expect(first.migration).toMatchObject({ control: 'base', candidate: 'next', phase: 'planned' });
      expect(first.estimate.toEmbed).toBe(first.estimate.rows);
      expect((await rb.migration.abort('not yet', first.migration.id)).phase).toBe('aborted');

      const { migration } = await rb.migration.plan('next', 'base');
      await expect(rb.migration.start({ expectVersion: migration.version + 1 })).rejects.toThrow(ConcurrentChangeError);
      expect((await rb.migration.start({ expectVersion: migration.version })).phase).toBe('backfilling');
      expect((await rb.backfill.run('next')).coverage.ratio).toBe(1);
      const controller = await rb.controller({ actor: 'facade-controller' });
      const tick = await controller.tick();
      expect(tick.migration.phase).toBe('shadow');
      expect(tick.tick.decision).toBe('promote');
      expect((await rb.migration.ramp(50)).percent).toBe(50);
      const during = await rb.migration.statusReport();
      if (!during.migration) throw new Error('expected a migration');
      expect(during).toMatchObject({ servingPercent: 50, coverage: { base: 1, next: 1 } });
      expect(during.controller?.lastTick?.decision).toBe('promote');
      expect((await rb.migration.rollback('drill')).phase).toBe('rolled_back');
      const history = await rb.migration.historyReport(migration.id, { measurements: true });
      if (!history.migration) throw new Error('expected a migration');
      expect(history.events.map((e) => [e.action, e.actor])).toEqual([
        ['plan', 'facade-test'],
        ['start', 'facade-test'],
        ['shadow', 'facade-controller'],
        ['ramp', 'facade-test'],
        ['rollback', 'facade-test'],
      ]);
      expect(history.ticks).toHaveLength(1);
      expect(history.measurements!.map((m) => m.gate)).toContain('coverage');
      expect((await rb.migration.history(migration.id)).map((e) => e.action)).toHaveLength(5);

      await rb.migration.plan('next');
      await rb.migration.start();
      await rb.migration.shadow(0.1);
      await rb.migration.ramp(50);
      expect((await rb.migration.cutover()).phase).toBe('cutover');
      expect((await rb.migration.finalize()).phase).toBe('finalized');
      await expect(rb.migration.cleanup(3_600_000)).rejects.toMatchObject({ code: 'TRANSITION_REFUSED' });
      const cleaned = await rb.migration.cleanup(0);
      expect(cleaned.phase).toBe('cleaned');
      expect((await rb.migration.status())!.id).toBe(cleaned.id);
      expect(await rb.migration.statusReport()).toMatchObject({
        servingPercent: 100,
        coverage: { base: null, next: 1 },
      });
    });
  });

  it('detach removes the capture triggers and turns capture off', async () => {
    await using(await facade(), async (rb) => {
      expect((await rb.status()).captureInstalled).toBe(true);
      expect(await rb.detach()).toEqual({ detached: 'reembed.documents' });
      const status = await rb.status();
      expect(status.captureInstalled).toBe(false);
      expect(status.profiles.map((p) => [p.profile, p.capture])).toEqual([['next', false]]);
    });
  });

  it('eval runs on a throwaway database, never the facade’s', async () => {
    const evalDb = backend === 'postgres' ? await createServerDatabase() : null;
    const runDir = mkdtempSync(join(tmpdir(), 'reembed-facade-runs-'));
    try {
      await using(await facade(), async (rb) => {
        let queries = 0;
        const result = await rb.eval({
          dataset: writeTinyDataset(),
          profiles: ['base', 'next'],
          database: evalDb?.url,
          runDir,
          history: false,
          onDataset: (d) => (queries = d.queries.length),
        });
        expect(queries).toBe(5);
        expect(result.profiles.map((p) => p.profile)).toEqual(['base', 'next']);
        expect(result.profiles[0]!.exact.metrics.judgedQueries).toBe(4);
        expect(result.comparisons).toHaveLength(1);
        expect(result.files).toEqual({ runs: [join(runDir, 'base.trec'), join(runDir, 'next.trec')], history: null });
        // The facade's own database was never needed.
        expect(() => rb.db).toThrow(ReembedError);
      });
    } finally {
      await evalDb?.drop();
    }
  });

  it('opens lazily in spite of a gate violation, and refuses it when a router starts', async () => {
    const env = { REEMBED_ENV: 'production' };
    const rb = await open({ config: manifestFile, db: target, env, router: false });
    await using(rb, async () => {
      expect(() => rb.activeProfile).toThrow(ProfileGateError);
      expect((await rb.failures.list()).total).toBe(0);
      await expect(rb.search('anything')).rejects.toThrow(ProfileGateError);
    });
    await expect(open({ config: manifestFile, db: target, env })).rejects.toThrow(ProfileGateError);
  });
});
