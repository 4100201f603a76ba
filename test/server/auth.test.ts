/**
 * The tokens' other cases: admin and alert routes disabled when their token is not set (403 that
 * says how to enable them), admin routes opened without a token for a loopback development
 * server, and REEMBED_API_TOKEN protecting search, writes and status (the admin token accepted
 * too) while /health, /ready, /metrics and the dashboard stay open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBind } from '../../src/server/serve.js';
import { isLoopback, sameToken } from '../../src/server/auth.js';
import { call, MANIFEST, startHarness, type Harness } from './harness.js';

describe('tokens', () => {
  let open: Harness;
  let locked: Harness;
  let dev: Harness;
  beforeAll(async () => {
    open = await startHarness('pglite');
    locked = await startHarness('pglite', { server: { tokens: { api: 'api-token', admin: 'admin-token' } } });
    dev = await startHarness('pglite', { server: { openAdmin: true } });
  });
  afterAll(async () => {
    await open?.close();
    await locked?.close();
    await dev?.close();
  });

  it('without REEMBED_ADMIN_TOKEN, admin routes answer 403 saying how to enable them', async () => {
    const res = await call(open, 'POST', '/v1/backfill/base/pause', { token: 'anything' });
    expect(res.status).toBe(403);
    expect(res.json.error.message).toContain('REEMBED_ADMIN_TOKEN');
    const alerts = await call(open, 'POST', '/v1/alerts', { body: { type: 'x', severity: 'critical' } });
    expect(alerts.status).toBe(403);
    expect(alerts.json.error.message).toContain('REEMBED_ALERT_TOKEN');
    // Search and status need no token when REEMBED_API_TOKEN is not set.
    expect((await call(open, 'GET', '/v1/status')).status).toBe(200);
  });

  it('with --open-admin (loopback only), admin routes need no token', async () => {
    const res = await call(dev, 'POST', '/v1/backfill/base/pause');
    expect(res.status).toBe(200);
    expect(res.json.paused).toBe(true);
    expect(checkBind('0.0.0.0', {}, true)).toContain('refusing');
    expect(checkBind('192.168.1.5', {}, true)).toContain('refusing');
    expect(checkBind('127.0.0.1', {}, true)).toBeNull();
    expect(checkBind('::1', {}, true)).toBeNull();
    // A reachable address also needs the API token (writes and deletes), or an explicit --anonymous-api.
    expect(checkBind('0.0.0.0', { admin: 't' }, true)).toContain('REEMBED_API_TOKEN');
    expect(checkBind('0.0.0.0', { admin: 't', api: 'a' }, true)).toBeNull();
    expect(checkBind('0.0.0.0', {}, false)).toContain('--anonymous-api');
    expect(checkBind('0.0.0.0', {}, false, true)).toBeNull();
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('127.0.0.1x')).toBe(false);
  });

  it('refuses what a web page on another site sends (CSRF), and non-loopback Host names on a loopback server', async () => {
    const loopback = await startHarness('pglite', { server: { openAdmin: true, loopbackOnly: true } });
    try {
      // A bodyless POST from another site (no preflight): refused before it pauses anything.
      const csrf = await call(loopback, 'POST', '/v1/backfill/base/pause', {
        headers: { 'sec-fetch-site': 'cross-site' },
      });
      expect(csrf.status).toBe(403);
      const origin = await call(loopback, 'POST', '/v1/backfill/base/pause', {
        headers: { origin: 'https://attacker.example' },
      });
      expect(origin.status).toBe(403);
      expect(
        (await call(loopback, 'GET', '/v1/status')).json.profiles.find((p: { profile: string }) => p.profile === 'base')
          ?.paused ?? false,
      ).toBe(false);
      // DNS rebinding: a page on attacker.example resolved to 127.0.0.1 names its own Host.
      const rebound = await call(loopback, 'GET', '/v1/status', { headers: { host: 'attacker.example:8787' } });
      expect(rebound.status).toBe(403);
      // The dashboard's own requests (same origin) and plain clients pass.
      const same = await call(loopback, 'POST', '/v1/backfill/base/pause', {
        headers: { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:80', host: 'localhost:80' },
      });
      expect(same.status).toBe(200);
      // Dropping dead letters needs a profile, ids or all: true; an empty body drops nothing.
      const drop = await call(loopback, 'POST', '/v1/failures/drop');
      expect(drop.status).toBe(400);
      expect(drop.json.error.message).toMatch(/name a profile, ids, or all: true/);
      expect((await call(loopback, 'POST', '/v1/failures/drop', { body: { all: true } })).json).toEqual({ dropped: 0 });
    } finally {
      await loopback.close();
    }
  });

  it('REEMBED_API_TOKEN protects search, writes and reads; the admin token is accepted too', async () => {
    const search = { body: { query: 'x' } };
    expect((await call(locked, 'POST', '/v1/search', search)).status).toBe(401);
    expect((await call(locked, 'POST', '/v1/search', { ...search, token: 'wrong' })).status).toBe(403);
    expect(
      (await call(locked, 'PUT', '/v1/documents', { body: { documents: [{ id: 'a', content: 'b' }] } })).status,
    ).toBe(401);
    expect((await call(locked, 'DELETE', '/v1/documents/a')).status).toBe(401);
    expect((await call(locked, 'GET', '/v1/status')).status).toBe(401);
    expect((await call(locked, 'GET', '/v1/metrics/serving')).status).toBe(401);
    const put = await call(locked, 'PUT', '/v1/documents', {
      body: { documents: [{ id: 'a', content: 'b' }] },
      token: 'api-token',
    });
    expect(put.status).toBe(200);
    expect((await call(locked, 'GET', '/v1/status', { token: 'admin-token' })).status).toBe(200);
    // The api token is not an admin token.
    expect((await call(locked, 'POST', '/v1/backfill/base/pause', { token: 'api-token' })).status).toBe(403);
    for (const path of ['/health', '/ready', '/metrics', '/openapi.json', '/', '/assets/dashboard.js']) {
      expect((await call(locked, 'GET', path)).status, path).toBe(200);
    }
    expect(locked.logs.join('\n')).not.toMatch(/api-token|admin-token/);
  });

  it("rolls back on the severities of the manifest's rollout.alert_rollback_severities", async () => {
    const paging = await startHarness('pglite', {
      manifest: MANIFEST.replace('rollout:\n', 'rollout:\n  alert_rollback_severities: [Page]\n'),
      server: { tokens: { alert: 'alert-token' }, openAdmin: true },
    });
    try {
      await call(paging, 'PUT', '/v1/documents', { body: { documents: [{ id: 'a', content: 'b' }] } });
      await paging.rb.backfill.run('base');
      expect((await call(paging, 'POST', '/v1/migrations', { body: { to: 'next' } })).status).toBe(201);
      await call(paging, 'POST', '/v1/migrations/current/start');
      const alert = (severity: string) =>
        call(paging, 'POST', '/v1/alerts', { body: { type: 'recall', severity, value: 0.7 }, token: 'alert-token' });
      expect((await alert('critical')).json.results[0].action).toBe('ignored');
      expect((await call(paging, 'GET', '/v1/status')).json.migration.migration.phase).toBe('backfilling');
      expect((await alert('page')).json.results[0].action).toBe('rolled_back');
      expect((await call(paging, 'GET', '/v1/status')).json.migration.migration.phase).toBe('rolled_back');
    } finally {
      await paging.close();
    }
  });

  it('compares tokens whatever their lengths', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abcd')).toBe(false);
    expect(sameToken('', 'abc')).toBe(false);
  });
});
