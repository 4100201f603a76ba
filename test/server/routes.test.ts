/**
 * `reembed serve`'s routes on both databases, in-process through Fastify's inject: every
 * route's happy path and its refusals (bad JSON, wrong types, k out of range, a 1 MB query,
 * unknown filter columns, SQL metacharacters, missing and wrong tokens). The tests of one
 * backend share a server and run in order: documents, backfill, a migration driven through the
 * admin routes, then the alert webhook.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_K, SCHEMA_VERSION } from '../../src/reembed.js';
import { BACKENDS } from '../helpers/databases.js';
import { call, docs, startHarness, type Harness } from './harness.js';

const ADMIN = 'admin-secret-token-1';
const ALERT = 'alert-secret-token-2';
const DOCS = docs(24);

describe.each(BACKENDS)('reembed serve routes on %s', (backend) => {
  let h: Harness;
  let migrationId = '';

  beforeAll(async () => {
    h = await startHarness(backend, { server: { tokens: { admin: ADMIN, alert: ALERT } } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers /health and /ready (schema at the expected version, active profile)', async () => {
    const health = await call(h, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json.status).toBe('ok');
    const ready = await call(h, 'GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ ready: true, reason: null, activeProfile: 'base' });
    expect(ready.json.schemaVersion).toBe(SCHEMA_VERSION);
  });

  it('writes documents (PUT /v1/documents) and deletes one (DELETE /v1/documents/:id)', async () => {
    const put = await call(h, 'PUT', '/v1/documents', { body: { documents: DOCS } });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ written: DOCS.length, embedded: 0 });
    const extra = await call(h, 'PUT', '/v1/documents', {
      body: { documents: [{ id: 'gone', content: 'to delete' }] },
    });
    expect(extra.json.written).toBe(1);
    const del = await call(h, 'DELETE', '/v1/documents/gone');
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ deleted: 1 });
    const again = await call(h, 'DELETE', '/v1/documents/gone');
    expect(again.json).toEqual({ deleted: 0 });
    // The store of the serving profile, as `reembed backfill` makes it.
    const run = await h.rb.backfill.run('base');
    expect(run.coverage.ratio).toBe(1);
    expect(run.coverage.sourceRows).toBe(DOCS.length);
  });

  it('refuses bad documents with 400 and the error shape', async () => {
    for (const body of [
      { documents: [] },
      { documents: [{ id: 'x' }] },
      { documents: [{ id: '', content: 'x' }] },
      { documents: [{ id: 'x', content: 5 }] },
      { documents: 'x' },
      { documents: [{ id: 'x', content: 'y' }], sync: 'yes' },
    ]) {
      const res = await call(h, 'PUT', '/v1/documents', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe('INVALID_REQUEST');
      expect(typeof res.json.error.message).toBe('string');
    }
  });

  it('writes with sync: the serving profile embeds before answering, and search finds it', async () => {
    const put = await call(h, 'PUT', '/v1/documents', {
      body: { documents: [{ id: 'sync-1', content: 'zebra stripes in the savanna' }], sync: true },
    });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ written: 1, embedded: 1 });
    const res = await call(h, 'POST', '/v1/search', { body: { query: 'zebra stripes in the savanna', k: 3 } });
    expect(res.status).toBe(200);
    expect(res.json.hits[0].id).toBe('sync-1');
    await call(h, 'DELETE', '/v1/documents/sync-1');
  });

  it('searches: hits, the serving profile, no fallback, the latency breakdown', async () => {
    const res = await call(h, 'POST', '/v1/search', { body: { query: DOCS[5]!.content, k: 4, subject: 'user-1' } });
    expect(res.status).toBe(200);
    expect(res.json.profile).toBe('base');
    expect(res.json.fallback).toBe(false);
    expect(res.json.hits).toHaveLength(4);
    expect(res.json.hits[0].id).toBe('doc-5');
    for (const key of ['embed', 'search', 'total']) expect(typeof res.json.latencyMs[key]).toBe('number');
    expect(res.json.latencyMs.total).toBeGreaterThanOrEqual(res.json.latencyMs.search);
  });

  it('filters on a source column, with SQL metacharacters in values and subjects taken literally', async () => {
    const only = await call(h, 'POST', '/v1/search', {
      body: { query: 'cats', k: 10, filter: { column: 'id', value: 'doc-7' } },
    });
    expect(only.status).toBe(200);
    expect(only.json.hits.map((x: { id: string }) => x.id)).toEqual(['doc-7']);
    const nasty = "doc-1' OR '1'='1'; DROP TABLE reembed.documents; --";
    const none = await call(h, 'POST', '/v1/search', {
      body: { query: 'cats', k: 10, filter: { column: 'id', value: nasty }, subject: nasty },
    });
    expect(none.status).toBe(200);
    expect(none.json.hits).toEqual([]);
    // The table is still there with every row.
    const status = await call(h, 'GET', '/v1/status');
    expect(status.json.profiles.find((p: { profile: string }) => p.profile === 'base').coverage.sourceRows).toBe(
      DOCS.length,
    );
    // The manifest's rollout steps, which the dashboard's track and ramp button follow.
    expect(status.json.rollout).toEqual({ steps: [5, 25, 50, 100] });
  });

  it('refuses bad searches with 400 INVALID_REQUEST: bad JSON, wrong types, k out of range, unknown fields', async () => {
    const bodies: Array<{ raw?: string; body?: unknown }> = [
      { raw: '{"query": "cats",' },
      { raw: 'not json at all' },
      { raw: '{"query": "cats", "__proto__": {"polluted": true}}' },
      { body: { k: 3 } },
      { body: { query: 5 } },
      { body: { query: 'cats', k: '3' } },
      { body: { query: 'cats', k: 2.5 } },
      { body: { query: 'cats', k: 0 } },
      { body: { query: 'cats', k: -1 } },
      { body: { query: 'cats', k: MAX_K + 1 } },
      { body: { query: 'cats', k: 1e12 } },
      { body: { query: 'cats', subject: 7 } },
      { body: { query: 'cats', unknown: true } },
      { body: { query: '' } },
      { body: ['cats'] },
    ];
    for (const b of bodies) {
      const res = await call(h, 'POST', '/v1/search', b);
      expect(res.status, JSON.stringify(b)).toBe(400);
      expect(res.json.error.code, JSON.stringify(b)).toBe('INVALID_REQUEST');
    }
  });

  it('refuses a 1 MB query, a body over the limit, and unknown or malicious filter columns', async () => {
    const big = await call(h, 'POST', '/v1/search', { body: { query: 'x'.repeat(1_000_000) } });
    expect(big.status).toBe(400);
    expect(big.json.error.code).toBe('INVALID_REQUEST');
    const huge = await call(h, 'PUT', '/v1/documents', {
      body: { documents: [{ id: 'big', content: 'y'.repeat(5 * 1024 * 1024) }] },
    });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    for (const column of ['no_such_column', 'id; DROP TABLE reembed.documents', 'id" = \'x\' OR "1']) {
      const res = await call(h, 'POST', '/v1/search', { body: { query: 'cats', filter: { column, value: 'x' } } });
      expect(res.status, column).toBe(400);
      expect(res.json.error.code, column).toMatch(/^(INVALID_REQUEST|INVALID_IDENTIFIER)$/);
    }
    const fine = await call(h, 'POST', '/v1/search', { body: { query: 'cats', k: 2 } });
    expect(fine.status).toBe(200);
  });

  it('answers an unknown route with 404 in the error shape', async () => {
    const res = await call(h, 'GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('NOT_FOUND');
  });

  it('admin routes: 401 without a token, 403 with a wrong one, and the token never echoed', async () => {
    const none = await call(h, 'POST', '/v1/migrations', { body: { to: 'next' } });
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBeUndefined();
    const wrong = await call(h, 'POST', '/v1/migrations', { body: { to: 'next' }, token: `${ADMIN}x` });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.code).toBe('FORBIDDEN');
    expect(wrong.text).not.toContain(ADMIN);
    const basic = await call(h, 'POST', '/v1/backfill/base/pause', { headers: { authorization: `Basic ${ADMIN}` } });
    expect(basic.status).toBe(403);
  });

  it('plans, starts and shadows a migration through the admin routes', async () => {
    const plan = await call(h, 'POST', '/v1/migrations', { body: { to: 'next' }, token: ADMIN });
    expect(plan.status).toBe(201);
    expect(plan.json.migration).toMatchObject({ control: 'base', candidate: 'next', phase: 'planned' });
    migrationId = plan.json.migration.id;
    const unknown = await call(h, 'POST', '/v1/migrations', { body: { to: 'nope' }, token: ADMIN });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.code).toBe('CONFIG_INVALID');
    // An action without arguments may be sent without a body.
    const start = await call(h, 'POST', `/v1/migrations/${migrationId}/start`, { token: ADMIN });
    expect(start.status).toBe(200);
    expect(start.json.phase).toBe('backfilling');
    const run = await h.rb.backfill.run('next');
    expect(run.coverage.ratio).toBe(1);
    const badSample = await call(h, 'POST', `/v1/migrations/${migrationId}/shadow`, {
      body: { sample: 2 },
      token: ADMIN,
    });
    expect(badSample.status).toBe(400);
    const shadow = await call(h, 'POST', '/v1/migrations/current/shadow', { body: { sample: 0.5 }, token: ADMIN });
    expect(shadow.status).toBe(200);
    expect(shadow.json).toMatchObject({ id: migrationId, phase: 'shadow', shadowSample: 0.5 });
  });

  it('ramps with an optimistic lock: a stale version is 409, a bad percent 400', async () => {
    const before = (await call(h, 'GET', '/v1/status')).json.migration.migration;
    const stale = await call(h, 'POST', `/v1/migrations/${migrationId}/ramp`, {
      body: { percent: 25, expectVersion: before.version - 1 },
      token: ADMIN,
    });
    expect(stale.status).toBe(409);
    expect(stale.json.error.code).toBe('MIGRATION_CHANGED');
    for (const percent of [0, 150, '25']) {
      const bad = await call(h, 'POST', `/v1/migrations/${migrationId}/ramp`, { body: { percent }, token: ADMIN });
      expect(bad.status, String(percent)).toBe(400);
    }
    const ramp = await call(h, 'POST', `/v1/migrations/${migrationId}/ramp`, {
      body: { percent: 25, expectVersion: before.version },
      token: ADMIN,
    });
    expect(ramp.status).toBe(200);
    expect(ramp.json).toMatchObject({ phase: 'canary', percent: 25, version: before.version + 1 });
  });

  it('reports status: profiles, the migration, breakers; and /metrics has the gauges', async () => {
    // Searches of subjects in and out of the canary: the router follows the migration.
    await h.rb.router.refresh();
    const served = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const res = await call(h, 'POST', '/v1/search', { body: { query: 'dogs', k: 3, subject: `user-${i}` } });
      expect(res.status).toBe(200);
      served.add(res.json.profile);
    }
    expect(served).toEqual(new Set(['base', 'next']));
    const status = await call(h, 'GET', '/v1/status');
    expect(status.status).toBe(200);
    expect(status.json.profiles.map((p: { profile: string }) => p.profile).sort()).toEqual(['base', 'next']);
    expect(status.json.migration.migration).toMatchObject({ id: migrationId, phase: 'canary', percent: 25 });
    expect(status.json.migration.servingPercent).toBe(25);
    expect(status.json.breakers).toEqual([{ profile: 'next', state: 'closed', opens: 0, lastOpenAt: null }]);

    const metrics = await call(h, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(String(metrics.headers['content-type'])).toContain('text/plain');
    const text = metrics.text;
    expect(text).toContain('reembed_status_up 1');
    expect(text).toContain(`reembed_migration_percent{migration="${migrationId}"} 25`);
    expect(text).toContain(
      `reembed_migration_phase{migration="${migrationId}",control="base",candidate="next",phase="canary"} 1`,
    );
    expect(text).toContain(
      `reembed_migration_phase{migration="${migrationId}",control="base",candidate="next",phase="shadow"} 0`,
    );
    expect(text).toContain('reembed_coverage_ratio{profile="next"} 1');
    for (const p of status.json.profiles) {
      expect(text).toContain(`reembed_queue_depth{profile="${p.profile}"} ${p.queued}`);
      expect(text).toContain(`reembed_jit_pending{profile="${p.profile}"} ${p.jit.pending}`);
      expect(text).toContain(`reembed_source_rows{profile="${p.profile}"} ${p.coverage.sourceRows}`);
    }
    expect(text).toContain('reembed_circuit_breaker_state{profile="next",state="closed"} 1');
    expect(text).toMatch(/reembed_embedding_profile_info\{[^}]*embedding_profile="base"/);
    expect(text).toMatch(/reembed_search_requests_total\{profile="next"\} [1-9]/);

    // Concurrent scrapes each get a whole, consistent text: every series once.
    const scrapes = await Promise.all([1, 2, 3].map(() => call(h, 'GET', '/metrics')));
    for (const s of scrapes) {
      const series = s.text.split('\n').filter((l) => l.startsWith('reembed_coverage_ratio{'));
      expect(series.sort()).toEqual([
        'reembed_coverage_ratio{profile="base"} 1',
        'reembed_coverage_ratio{profile="next"} 1',
      ]);
      expect(s.text).toContain('reembed_status_up 1');
    }
  });

  it('controls the backfill: pause, resume, throttle (and refuses an unknown profile or a bad rpm)', async () => {
    // As fetch and curl send it: a JSON content type and no body.
    const pause = await call(h, 'POST', '/v1/backfill/next/pause', {
      token: ADMIN,
      headers: { 'content-type': 'application/json' },
    });
    expect(pause.status).toBe(200);
    expect(pause.json).toMatchObject({ profile: 'next', paused: true });
    expect(
      (await call(h, 'GET', '/v1/status')).json.profiles.find((p: { profile: string }) => p.profile === 'next').paused,
    ).toBe(true);
    const resume = await call(h, 'POST', '/v1/backfill/next/resume', { token: ADMIN });
    expect(resume.json.paused).toBe(false);
    const throttle = await call(h, 'POST', '/v1/backfill/next/throttle', { body: { rpm: 120 }, token: ADMIN });
    expect(throttle.json.rpm).toBe(120);
    const unthrottle = await call(h, 'POST', '/v1/backfill/next/throttle', { body: { rpm: null }, token: ADMIN });
    expect(unthrottle.json.rpm).toBeNull();
    expect((await call(h, 'POST', '/v1/backfill/next/throttle', { body: { rpm: -5 }, token: ADMIN })).status).toBe(400);
    expect((await call(h, 'POST', '/v1/backfill/nope/pause', { token: ADMIN })).status).toBe(400);
  });

  it('lists, retries and drops failures', async () => {
    const list = await call(h, 'GET', '/v1/failures?profile=next&limit=10', { token: ADMIN });
    expect(list.status).toBe(200);
    expect(list.json).toEqual({ total: 0, failures: [] });
    expect((await call(h, 'GET', '/v1/failures?limit=abc', { token: ADMIN })).status).toBe(400);
    const retry = await call(h, 'POST', '/v1/failures/retry', { body: { profile: 'next' }, token: ADMIN });
    expect(retry.json).toEqual({ retried: 0 });
    const drop = await call(h, 'POST', '/v1/failures/drop', { body: { ids: ['a'] }, token: ADMIN });
    expect(drop.json).toEqual({ dropped: 0 });
    expect((await call(h, 'GET', '/v1/failures')).status).toBe(401);
  });

  it('serves the serving metrics and the history; refuses a bad duration', async () => {
    const serving = await call(h, 'GET', '/v1/metrics/serving?since=1h');
    expect(serving.status).toBe(200);
    expect(typeof serving.json.since).toBe('string');
    expect((await call(h, 'GET', '/v1/metrics/serving?since=soon')).status).toBe(400);

    // The series partitions the range: its buckets add up to the totals of the same range.
    await h.rb.router.metrics!.flush();
    const res = await call(h, 'GET', '/v1/metrics/serving/series?since=15m&points=6');
    expect(res.status).toBe(200);
    const { total, series } = res.json as {
      total: Array<{ profile: string; requests: number; errors: number }>;
      series: Array<{ from: string; to: string | null; profiles: Array<{ profile: string; requests: number }> }>;
    };
    expect(series).toHaveLength(6);
    expect(series.at(-1)!.to).toBeNull();
    for (let i = 1; i < series.length; i++) expect(series[i]!.from).toBe(series[i - 1]!.to);
    expect(total.map((p) => p.profile).sort()).toEqual(['base', 'next']);
    for (const p of total) {
      expect(p.requests).toBeGreaterThan(0);
      const summed = series.reduce((a, b) => a + (b.profiles.find((x) => x.profile === p.profile)?.requests ?? 0), 0);
      expect(summed, p.profile).toBe(p.requests);
    }
    for (const bad of ['points=1', 'points=61', 'points=x', 'since=soon'])
      expect((await call(h, 'GET', `/v1/metrics/serving/series?${bad}`)).status, bad).toBe(400);
    expect((await call(h, 'GET', '/v1/metrics/serving?bogus=1')).status).toBe(400);
    const history = await call(h, 'GET', `/v1/migrations/${migrationId}/history`);
    expect(history.status).toBe(200);
    expect(history.json.events.map((e: { toPhase: string }) => e.toPhase)).toEqual([
      'planned',
      'backfilling',
      'shadow',
      'canary',
    ]);
    expect(history.json.events.every((e: { actor: string }) => e.actor === 'http')).toBe(true);
    const missing = await call(h, 'GET', '/v1/migrations/m_doesnotexist/history');
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('MIGRATION_NOT_FOUND');
  });

  it('rolls back with a reason; a transition after it is refused with 409', async () => {
    expect((await call(h, 'POST', `/v1/migrations/${migrationId}/rollback`, { body: {}, token: ADMIN })).status).toBe(
      400,
    );
    const rollback = await call(h, 'POST', `/v1/migrations/${migrationId}/rollback`, {
      body: { reason: 'p95 too high' },
      token: ADMIN,
    });
    expect(rollback.status).toBe(200);
    expect(rollback.json.phase).toBe('rolled_back');
    const again = await call(h, 'POST', `/v1/migrations/${migrationId}/ramp`, { body: { percent: 50 }, token: ADMIN });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('TRANSITION_REFUSED');
    const history = await call(h, 'GET', '/v1/migrations/current/history');
    expect(history.json.events.at(-1)).toMatchObject({ toPhase: 'rolled_back', reason: 'p95 too high' });
  });

  it('alert webhook: a firing critical alert rolls back once; redeliveries, warnings and bad tokens do nothing', async () => {
    const plan = await call(h, 'POST', '/v1/migrations', { body: { to: 'next' }, token: ADMIN });
    const id = plan.json.migration.id as string;
    await call(h, 'POST', `/v1/migrations/${id}/start`, { body: {}, token: ADMIN });
    await call(h, 'POST', `/v1/migrations/${id}/shadow`, { body: { sample: 0.1 }, token: ADMIN });
    await call(h, 'POST', `/v1/migrations/${id}/ramp`, { body: { percent: 5 }, token: ADMIN });
    const payload = {
      version: '4',
      status: 'firing',
      receiver: 'reembed',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'CanaryErrorRate', severity: 'warning' },
          annotations: {},
          // Began firing after the migration started (an older alert is not about it).
          startsAt: new Date(Date.now() + 1000).toISOString(),
          fingerprint: 'aaa',
        },
      ],
    };
    expect((await call(h, 'POST', '/v1/alerts', { body: payload })).status).toBe(401);
    expect((await call(h, 'POST', '/v1/alerts', { body: payload, token: ADMIN })).status).toBe(403);
    const warning = await call(h, 'POST', '/v1/alerts', { body: payload, token: ALERT });
    expect(warning.status).toBe(200);
    expect(warning.json.results).toEqual([
      { alert: 'CanaryErrorRate', severity: 'warning', action: 'ignored', migration: null },
    ]);
    expect((await call(h, 'GET', '/v1/status')).json.migration.migration.phase).toBe('canary');

    const critical = structuredClone(payload);
    critical.alerts[0]!.labels.severity = 'critical';
    critical.alerts[0]!.annotations = { summary: 'canary error rate 4% over control 1%' } as never;
    const fired = await call(h, 'POST', '/v1/alerts', { body: critical, token: ALERT });
    expect(fired.status).toBe(200);
    expect(fired.json.results[0]).toMatchObject({ action: 'rolled_back', migration: id });
    const after = (await call(h, 'GET', '/v1/status')).json.migration.migration;
    expect(after.phase).toBe('rolled_back');
    const again = await call(h, 'POST', '/v1/alerts', { body: critical, token: ALERT });
    expect(again.json.results[0]).toMatchObject({ action: 'already_handled', migration: id });
    expect((await call(h, 'GET', '/v1/status')).json.migration.migration.version).toBe(after.version);
    const events = (await call(h, 'GET', `/v1/migrations/${id}/history`)).json.events;
    expect(events.filter((e: { toPhase: string }) => e.toPhase === 'rolled_back')).toHaveLength(1);
    expect(events.at(-1).reason).toContain('CanaryErrorRate');
    expect(events.at(-1).reason).toContain('critical');

    const simple = await call(h, 'POST', '/v1/alerts', {
      body: { type: 'p95_latency', severity: 'critical', value: 900, threshold: 300 },
      token: ALERT,
    });
    expect(simple.json.results[0]).toMatchObject({ alert: 'p95_latency', action: 'no_active_migration' });

    // The operator starts a new migration while the alert still fires: Alertmanager's repeat of
    // the same alert must not roll the new, healthy one back.
    const next = (await call(h, 'POST', '/v1/migrations', { body: { to: 'next' }, token: ADMIN })).json.migration;
    await call(h, 'POST', `/v1/migrations/${next.id}/start`, { body: {}, token: ADMIN });
    const repeat = await call(h, 'POST', '/v1/alerts', { body: critical, token: ALERT });
    expect(repeat.json.results[0]).toMatchObject({ action: 'already_handled' });
    // Another alert that began firing before this migration existed is not about it either.
    const older = structuredClone(critical);
    older.alerts[0]!.fingerprint = 'bbb';
    older.alerts[0]!.startsAt = '2026-01-01T00:00:00Z';
    const predates = await call(h, 'POST', '/v1/alerts', { body: older, token: ALERT });
    expect(predates.json.results[0]).toMatchObject({ action: 'predates_migration', migration: next.id });
    expect((await call(h, 'GET', '/v1/status')).json.migration.migration).toMatchObject({
      id: next.id,
      phase: 'backfilling',
    });
    await call(h, 'POST', `/v1/migrations/${next.id}/abort`, { body: { reason: 'test over' }, token: ADMIN });
    expect((await call(h, 'POST', '/v1/alerts', { body: { type: 'x' }, token: ALERT })).status).toBe(400);
  });

  it('publishes /openapi.json from the route schemas', async () => {
    const res = await call(h, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.json;
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, method] of [
      ['/v1/search', 'post'],
      ['/v1/documents', 'put'],
      ['/v1/documents/{id}', 'delete'],
      ['/v1/status', 'get'],
      ['/v1/migrations', 'post'],
      ['/v1/migrations/{id}/ramp', 'post'],
      ['/v1/migrations/{id}/rollback', 'post'],
      ['/v1/migrations/{id}/history', 'get'],
      ['/v1/backfill/{profile}/throttle', 'post'],
      ['/v1/failures/retry', 'post'],
      ['/v1/metrics/serving', 'get'],
      ['/v1/alerts', 'post'],
      ['/health', 'get'],
      ['/ready', 'get'],
      ['/metrics', 'get'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    const search = doc.paths['/v1/search'].post;
    expect(search.requestBody.content['application/json'].schema.properties.k.maximum).toBe(MAX_K);
    expect(search.security).toEqual([{ api: [] }]);
    expect(doc.paths['/v1/migrations/{id}/ramp'].post.security).toEqual([{ admin: [] }]);
    expect(doc.paths['/']).toBeUndefined();
  });

  it('logs one line per request, and never a token', async () => {
    const before = h.logs.length;
    await call(h, 'GET', '/health');
    const lines = h.logs.slice(before).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'request')).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'GET', url: '/health', status: 200 });
    const all = h.logs.join('\n');
    expect(all).not.toContain(ADMIN);
    expect(all).not.toContain(ALERT);
    expect(h.logs.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThan(50);
  });
});
