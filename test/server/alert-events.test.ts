/** `rb.alerts` and `GET /v1/alerts` on both databases: an evaluation from the facade, then what the route lists. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { BACKENDS } from '../helpers/databases.js';
import { servingWindow, webhookReceiver } from '../gates/alert-helpers.js';
import { call, MANIFEST, startHarness, type Harness } from './harness.js';

describe.each(BACKENDS)('alerts through the facade and GET /v1/alerts on %s', (backend) => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;

  beforeAll(async () => {
    receiver = await webhookReceiver();
    h = await startHarness(backend, {
      manifest: `${MANIFEST}alerts:
  webhooks: [{ url: "${receiver.url('/hook')}", format: slack }]
  rules:
    - { name: p95-high, metric: online.latency_p95_ms, op: ">", threshold: 20, severity: warning, window: 5m }
`,
    });
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  it('rb.alerts.evaluate() fires on the active profile without a migration, and GET /v1/alerts lists it', async () => {
    const now = new Date('2026-03-02T12:00:00Z');
    await servingWindow(h.rb.db, 'base', new Date(now.getTime() - 1000), { requests: 40, latencyMs: 35 });
    const report = await h.rb.alerts.evaluate({ now });
    expect(report).toMatchObject({
      evaluator: 'http',
      migration: null,
      rules: [{ rule: 'p95-high', profile: 'base', phase: 'firing', transition: 'firing' }],
      rollback: null,
    });
    expect(receiver.received.map((r) => r.body.text)).toEqual([
      expect.stringMatching(/^🔥 \[WARNING\] p95-high firing: online.latency_p95_ms of base 3\d/),
    ]);

    const listed = await call(h, 'GET', '/v1/alerts?limit=10');
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({
      firing: [{ rule: 'p95-high', scope: '', firedAt: now.toISOString() }],
      events: [{ rule: 'p95-high', transition: 'firing', severity: 'warning', deliveries: [{ ok: true }] }],
    });
    expect(await h.rb.alerts.history()).toEqual(listed.json);
  });

  it('refuses a bad limit: 400 from the route, a ConfigError from the facade', async () => {
    expect((await call(h, 'GET', '/v1/alerts?limit=0')).status).toBe(400);
    expect((await call(h, 'GET', '/v1/alerts?colour=red')).status).toBe(400);
    await expect(h.rb.alerts.history({ limit: 0 })).rejects.toThrow(ConfigError);
  });
});
