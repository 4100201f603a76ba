import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { ConfigError } from '../../src/errors.js';
import { listAlertEvents } from '../../src/gates/alert-tables.js';
import { evaluateAlerts } from '../../src/gates/alerts.js';
import { JIT_EMBEDDED_TABLE } from '../../src/backfill/jit.js';
import { databaseNow } from '../../src/db/clock.js';
import type { MigrationState } from '../../src/migration/state.js';
import type { Source } from '../../src/source/source.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { appendEvaluation, servingWindow, webhookReceiver } from './alert-helpers.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const T0 = Date.parse('2026-03-02T12:00:00Z');

type Receiver = Awaited<ReturnType<typeof webhookReceiver>>;

describe.each(BACKENDS)('alert rules on %s', (backend) => {
  let db: Database;
  let receiver: Receiver;
  let dir: string;

  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 10);
    receiver = await webhookReceiver();
    dir = mkdtempSync(join(tmpdir(), 'reembed-alerts-'));
  });
  afterEach(async () => {
    await receiver.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function setUp(alerts: Record<string, unknown>): Promise<{ manifest: Manifest; source: Source }> {
    const manifest = articlesManifest(
      {},
      {
        rollout: { eval_history: join(dir, 'history.jsonl') },
        alerts: {
          webhooks: [
            { url: receiver.url('/json'), format: 'json' },
            { url: receiver.url('/slack/T000/SECRET'), format: 'slack', severities: ['critical'] },
          ],
          ...alerts,
        },
      },
    );
    return { manifest, source: await articlesSource(db, manifest) };
  }

  const evaluate = (s: { manifest: Manifest; source: Source }, at: number, evaluator = 'test') =>
    evaluateAlerts({
      db,
      manifest: s.manifest,
      source: s.source,
      migration: null,
      activeProfile: 'small',
      evaluator,
      now: new Date(at),
    });

  it('counts no just-in-time completion from before the migration under way was created', async () => {
    const s = await setUp({
      rules: [
        {
          name: 'jit-slow',
          metric: 'jit.time_to_embed_p95_ms',
          op: '>',
          threshold: 60_000,
          window: '5m',
          min_samples: 1,
          severity: 'warning',
        },
      ],
    });
    // A request of `big` that waited four minutes, embedded just before the migration began.
    await db.query(
      `INSERT INTO ${JIT_EMBEDDED_TABLE} (profile, requested_at, embedded_at)
       VALUES ('big', clock_timestamp() - interval '4 minutes', clock_timestamp() - interval '10 seconds')`,
    );
    const now = await databaseNow(db);
    const run = (migration: MigrationState | null) =>
      evaluateAlerts({
        db,
        manifest: s.manifest,
        source: s.source,
        migration,
        activeProfile: 'big',
        evaluator: 'test',
        now,
      });
    expect((await run(null)).rules[0]).toMatchObject({ rule: 'jit-slow', breach: true });
    const migration = {
      id: 'm_jit',
      source: 'public.articles',
      control: 'small',
      candidate: 'big',
      phase: 'canary',
      percent: 5,
      shadowSample: 0,
      version: 3,
      createdAt: new Date(now.getTime() - 5_000).toISOString(),
      updatedAt: now.toISOString(),
      cutoverAt: null,
      finalizedAt: null,
    } as unknown as MigrationState;
    // Nothing of the migration's own: no data, which never fires.
    const during = (await run(migration)).rules[0]!;
    expect(during).toMatchObject({ rule: 'jit-slow', breach: null });
    expect(during.summary).toMatch(/no data/);
  });

  const p95Rule = (extra: Record<string, unknown> = {}) => ({
    name: 'p95-high',
    metric: 'online.latency_p95_ms',
    op: '>',
    threshold: 20,
    for: '10m',
    window: '5m',
    severity: 'warning',
    ...extra,
  });

  it('fires after the condition held for its for:, resolves, and records each notification with its deliveries', async () => {
    const s = await setUp({ rules: [p95Rule()] });
    // Slow for 10 minutes, one window a minute: pending until the 10th minute, then firing.
    for (let i = 0; i <= 10; i++) {
      await servingWindow(db, 'small', new Date(T0 + i * MINUTE - 1000), { requests: 50, latencyMs: 40 });
      const r = await evaluate(s, T0 + i * MINUTE);
      expect(r.rules[0]).toMatchObject({ rule: 'p95-high', breach: true, phase: i < 10 ? 'pending' : 'firing' });
    }
    expect(receiver.received).toHaveLength(1);
    const fired = receiver.received[0]!;
    // Only the json receiver takes warnings; the slack one is for critical alerts.
    expect(fired.path).toBe('/json');
    expect(fired.body).toMatchObject({
      event: 'alert',
      rule: 'p95-high',
      severity: 'warning',
      status: 'firing',
      transition: 'firing',
      migration: null,
    });
    expect(fired.body.value as number).toBeGreaterThan(20);

    // Fast again: the windows of the last 5 minutes are fast ones, and the alert resolves.
    for (let i = 11; i <= 16; i++)
      await servingWindow(db, 'small', new Date(T0 + i * MINUTE - 1000), { requests: 50, latencyMs: 5 });
    const r = await evaluate(s, T0 + 16 * MINUTE);
    expect(r.rules[0]).toMatchObject({ breach: false, phase: 'inactive', transition: 'resolved' });
    expect(receiver.received.map((x) => x.body.status)).toEqual(['firing', 'resolved']);

    const events = await listAlertEvents(db);
    expect(events.map((e) => e.transition)).toEqual(['resolved', 'firing']);
    expect(events[1]).toMatchObject({ rule: 'p95-high', severity: 'warning', scope: '' });
    expect(events[1]!.at).toBe(new Date(T0 + 10 * MINUTE).toISOString());
    expect(events[1]!.deliveries).toEqual([
      { url: `${new URL(receiver.url('/')).origin}/…`, format: 'json', ok: true, status: 200 },
    ]);
  });

  it('sends a critical alert to the slack receiver as {text}, and names neither its secret path nor a password', async () => {
    const s = await setUp({
      rules: [p95Rule({ name: 'errors', metric: 'online.error_rate', threshold: 0.1, for: 0, severity: 'critical' })],
    });
    await servingWindow(db, 'small', new Date(T0 - 1000), { requests: 100, latencyMs: 5, errors: 30 });
    const r = await evaluate(s, T0);
    expect(r.events).toHaveLength(1);
    const slack = receiver.received.find((x) => x.path === '/slack/T000/SECRET')!;
    expect(Object.keys(slack.body)).toEqual(['text']);
    expect(slack.body.text).toContain('[CRITICAL] errors firing');
    expect(slack.body.text).toContain('online.error_rate of small 0.3');
    const stored = JSON.stringify(await listAlertEvents(db));
    expect(stored).not.toContain('SECRET');
    expect(receiver.received.map((x) => x.path).sort()).toEqual(['/json', '/slack/T000/SECRET']);
  });

  it('records a failed delivery as such', async () => {
    const s = await setUp({ rules: [p95Rule({ for: 0 })] });
    receiver.status = 503;
    await servingWindow(db, 'small', new Date(T0 - 1000), { requests: 50, latencyMs: 40 });
    const r = await evaluate(s, T0);
    expect(r.events[0]!.deliveries).toMatchObject([{ ok: false, status: 503, error: 'HTTP 503: done' }]);
    expect((await listAlertEvents(db))[0]!.deliveries).toMatchObject([{ ok: false, status: 503 }]);
  });

  it('no data never fires: too few requests in the window, or none at all', async () => {
    const s = await setUp({ rules: [p95Rule({ for: 0, min_samples: 20 })] });
    expect((await evaluate(s, T0)).rules[0]).toMatchObject({ breach: null, phase: 'inactive', value: null });
    await servingWindow(db, 'small', new Date(T0 - 1000), { requests: 5, latencyMs: 400 });
    const r = await evaluate(s, T0 + 1000);
    expect(r.rules[0]).toMatchObject({ breach: null, phase: 'inactive' });
    expect(r.rules[0]!.summary).toContain('no data (5 requests in the last 300 s; min_samples 20)');
    expect(receiver.received).toEqual([]);
  });

  it('two evaluators at once send one notification per transition', async () => {
    const s = await setUp({ rules: [p95Rule({ for: 0 })] });
    await servingWindow(db, 'small', new Date(T0 - 1000), { requests: 50, latencyMs: 40 });
    const [a, b] = await Promise.all([evaluate(s, T0, 'controller'), evaluate(s, T0, 'watch')]);
    expect(a.rules[0]!.phase).toBe('firing');
    expect(b.rules[0]!.phase).toBe('firing');
    expect(a.events.length + b.events.length).toBe(1);
    expect(receiver.received).toHaveLength(1);
    // And later, still firing, neither sends it again (no repeat is due).
    await Promise.all([evaluate(s, T0 + MINUTE, 'controller'), evaluate(s, T0 + MINUTE, 'watch')]);
    expect(receiver.received).toHaveLength(1);
    expect(await listAlertEvents(db)).toHaveLength(1);
  });

  it('re-notifies a still-firing alert every repeat_interval', async () => {
    const s = await setUp({ repeat_interval: '30m', rules: [p95Rule({ for: 0, window: '2h' })] });
    await servingWindow(db, 'small', new Date(T0 - 1000), { requests: 50, latencyMs: 40 });
    for (let i = 0; i <= 7; i++) await evaluate(s, T0 + i * 10 * MINUTE);
    // Fired at 0, repeated at 30 and 60 minutes.
    expect(receiver.received.map((x) => x.body.transition)).toEqual(['firing', 'repeat', 'repeat']);
    expect((await listAlertEvents(db)).map((e) => e.at)).toEqual(
      [60, 30, 0].map((m) => new Date(T0 + m * MINUTE).toISOString()),
    );
  });

  it('a recall drop against the median of the 7 days before, from history rows spread over days', async () => {
    const s = await setUp({
      rules: [{ name: 'recall-drop', metric: 'offline.recall@5', vs_median_7d: { drop: 0.03 }, severity: 'critical' }],
    });
    const small = getProfile(s.manifest, 'small');
    const big = getProfile(s.manifest, 'big');
    const file = join(dir, 'history.jsonl');
    // A run 10 days ago (outside the 7 days) was much better, and another profile's runs do not count.
    appendEvaluation(file, new Date(T0 - 10 * DAY), [[small, 0.95]]);
    for (const [day, recall] of [
      [6, 0.8],
      [5, 0.82],
      [4, 0.79],
      [2, 0.81],
    ] as const)
      appendEvaluation(file, new Date(T0 - day * DAY), [
        [small, recall],
        [big, 0.2],
      ]);
    // Today: 0.78, median of the 7 days before 0.805: a drop of 0.025, under 3 pp.
    appendEvaluation(file, new Date(T0), [[small, 0.78]]);
    let r = await evaluate(s, T0 + MINUTE);
    expect(r.rules[0]).toMatchObject({ breach: false, phase: 'inactive', value: 0.78 });
    expect(r.rules[0]!.baseline).toBeCloseTo(0.805, 10);

    // Tomorrow: 0.76, median of the runs of the 7 days before it (0.8, 0.82, 0.79, 0.81, 0.78) 0.8.
    appendEvaluation(file, new Date(T0 + DAY), [[small, 0.76]]);
    r = await evaluate(s, T0 + DAY + MINUTE);
    expect(r.rules[0]).toMatchObject({ breach: true, phase: 'firing', transition: 'firing', value: 0.76 });
    expect(r.rules[0]!.baseline).toBeCloseTo(0.8, 10);
    expect(r.events[0]!.summary).toContain('7-day median 0.8 of 5 runs');
    // Not rolled back by watch (no migration, and evaluation never rolls back by itself).
    expect(r.rollback).toBeNull();
  });

  it('an evaluation run alone, without earlier runs to compare with, is no data', async () => {
    const s = await setUp({
      rules: [{ name: 'recall-drop', metric: 'offline.recall@5', vs_median_7d: { drop: 0.03 }, severity: 'warning' }],
    });
    expect((await evaluate(s, T0)).rules[0]).toMatchObject({ breach: null, phase: 'inactive' });
    appendEvaluation(join(dir, 'history.jsonl'), new Date(T0), [[getProfile(s.manifest, 'small'), 0.1]]);
    expect((await evaluate(s, T0)).rules[0]).toMatchObject({ breach: null, phase: 'inactive' });
  });

  it('queue depth and dead letters of the profile', async () => {
    const s = await setUp({
      rules: [
        { name: 'queue', metric: 'queue.depth', op: '>=', threshold: 0, severity: 'info' },
        { name: 'dead', metric: 'backfill.dead_letters', op: '>', threshold: 0, severity: 'info' },
        { name: 'rate', metric: 'backfill.rows_per_second', op: '<', threshold: 1, severity: 'info' },
      ],
    });
    const r = await evaluate(s, T0);
    expect(r.rules.map((x) => [x.rule, x.value, x.phase])).toEqual([
      ['queue', 0, 'firing'],
      ['dead', 0, 'inactive'],
      // No live worker embeds the profile: no data, not a rate of 0.
      ['rate', null, 'inactive'],
    ]);
  });
});

describe('alerts: in reembed.yaml', () => {
  const build = (alerts: unknown) => articlesManifest({}, { alerts });
  it('takes rules with durations, severities and webhooks', () => {
    const m = build({
      repeat_interval: '1h',
      webhooks: [{ url: 'https://hooks.example.test/x', format: 'slack' }],
      rules: [
        { name: 'p95', metric: 'online.latency_p95_ms', op: '>', threshold: 20, for: '10m', severity: 'warning' },
      ],
    });
    expect(m.alerts.repeatInterval).toBe(3_600_000);
    expect(m.alerts.rules[0]).toMatchObject({ for: 600_000, window: 300_000, rollback: false });
    expect(m.alerts.webhooks[0]!.severities).toEqual(['critical', 'warning', 'info']);
  });
  it.each([
    [
      {
        rules: [
          { name: 'a', metric: 'online.error_rate', op: '>', threshold: 0.1, severity: 'warning', rollback: true },
        ],
      },
      'critical rules only',
    ],
    [{ rules: [{ name: 'a', metric: 'online.error_rate', severity: 'warning' }] }, 'needs one condition'],
    [
      { rules: [{ name: 'a', metric: 'online.error_rate', op: '>', severity: 'info' }] },
      'op and threshold go together',
    ],
    [
      { rules: [{ name: 'a', metric: 'online.error_rate', vs_median_7d: { drop: 0.1 }, severity: 'info' }] },
      'needs an offline.* metric',
    ],
    [{ rules: [{ name: 'a', metric: 'online.nope', op: '>', threshold: 1, severity: 'info' }] }, 'unknown metric'],
    [
      { rules: [{ name: 'a', metric: 'coverage', op: '<', threshold: 1, severity: 'page' }] },
      'alerts.rules.0.severity',
    ],
    [
      { rules: [{ name: 'a', metric: 'coverage', op: '<', threshold: 1, severity: 'info', profile: 'nope' }] },
      'unknown profile',
    ],
    [{ webhooks: [{ url: 'https://u:p@hooks.example.test/x' }] }, 'must not carry credentials'],
    [
      { rules: [{ name: 'a', metric: 'coverage', op: '<', threshold: 1, severity: 'info', for: 'soon' }] },
      'alerts.rules.0.for',
    ],
  ])('refuses %j', (alerts, message) => {
    expect(() => build(alerts)).toThrow(ConfigError);
    expect(() => build(alerts)).toThrow(message);
  });
  it('gates take notify_on', () => {
    const m = articlesManifest(
      {},
      { rollout: { gates: [{ name: 'cov', metric: 'coverage', min: 1, notify_on: ['hold', 'fail'] }] } },
    );
    expect(m.rollout.gates[0]!.notify_on).toEqual(['hold', 'fail']);
    expect(() =>
      articlesManifest({}, { rollout: { gates: [{ name: 'cov', metric: 'coverage', min: 1, notify_on: ['page'] }] } }),
    ).toThrow(ConfigError);
  });
});
