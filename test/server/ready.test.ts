/**
 * Readiness: a PostgreSQL server stopped under a running reembed server turns /ready to 503
 * with the reason while /health stays 200 and /metrics still answers (reembed_status_up 0); an
 * active profile that the environment's gating rules refuse is not ready either.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../helpers/pg-cluster.js';
import { call, MANIFEST, startHarness, type Harness } from './harness.js';

describe('readiness', () => {
  let cluster: Cluster | null = null;
  let h: Harness | null = null;
  afterAll(async () => {
    cluster?.stop();
    await h?.close();
  });

  it('answers 503 with the reason when the PostgreSQL server is stopped, and 200 while it runs', async () => {
    cluster = await startCluster({ serverOptions: ['-c fsync=off'], stopMode: 'immediate' });
    h = await startHarness('postgres', { target: cluster.url, server: { readyTimeoutMs: 60_000 } });
    const ready = await call(h, 'GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.json.ready).toBe(true);

    cluster.stop();
    const down = await call(h, 'GET', '/ready');
    expect(down.status).toBe(503);
    expect(down.json.ready).toBe(false);
    expect(down.json.reason).toMatch(/^database unreachable: /);
    expect(down.json.activeProfile).toBe('base');
    expect(down.json.schemaVersion).toBeNull();

    const health = await call(h, 'GET', '/health');
    expect(health.status).toBe(200);
    const metrics = await call(h, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('reembed_status_up 0');
    expect(metrics.text).not.toContain('reembed_coverage_ratio{');

    const status = await call(h, 'GET', '/v1/status');
    expect(status.status).toBeGreaterThanOrEqual(500);
    expect(typeof status.json.error.code).toBe('string');
    expect(h.logs.join('\n')).not.toMatch(/postgres:\/\/[^@\s"]*:[^@\s"]*@/);
  });

  it('answers 503 when the environment asks for a profile its gating rules refuse', async () => {
    const gated = await startHarness('pglite', {
      manifest: MANIFEST.replace('environments:\n', 'environments:\n  production:\n    profile: base\n'),
      open: { env: { REEMBED_ENV: 'production', EMBEDDINGS_PROFILE: 'next' }, actor: 'http', router: { lazy: true } },
    });
    try {
      const ready = await call(gated, 'GET', '/ready');
      expect(ready.status).toBe(503);
      expect(ready.json.reason).toMatch(/^active profile: /);
      expect(ready.json.activeProfile).toBeNull();
      expect((await call(gated, 'GET', '/health')).status).toBe(200);
    } finally {
      await gated.close();
    }
  });
});
