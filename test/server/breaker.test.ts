/**
 * The candidate's circuit breaker as the service reports it: a candidate whose embedder fails
 * during a canary falls back to the control, its breaker opens after failures in a row, and
 * /v1/status and /metrics say so (state, opens, when it last opened).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../../src/config/profile.js';
import { HashProvider } from '../../src/embedders/hash.js';
import { BACKENDS } from '../helpers/databases.js';
import { call, docs, ENV, startHarness, type Harness } from './harness.js';

describe.each(BACKENDS)('circuit breaker state on %s', (backend) => {
  let h: Harness;
  let failing = false;
  const provider = (profile: Profile) => {
    const hash = new HashProvider(profile);
    return {
      provider: 'hash' as const,
      embedBatch: async (texts: string[]) => {
        if (failing && profile.name === 'next') throw new Error('candidate provider down');
        return hash.embedBatch(texts);
      },
    };
  };

  beforeAll(async () => {
    h = await startHarness(backend, {
      open: {
        env: ENV,
        actor: 'http',
        router: { lazy: true, pollMs: 100, embedderOptions: { provider, sleep: async () => {} } },
      },
      server: { openAdmin: true },
    });
    await call(h, 'PUT', '/v1/documents', { body: { documents: docs(10) } });
    await h.rb.backfill.run('base');
    await call(h, 'POST', '/v1/migrations', { body: { to: 'next' } });
    await call(h, 'POST', '/v1/migrations/current/start');
    await h.rb.backfill.run('next');
    await call(h, 'POST', '/v1/migrations/current/shadow', { body: { sample: 0 } });
    expect((await call(h, 'POST', '/v1/migrations/current/ramp', { body: { percent: 100 } })).status).toBe(200);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reports closed, then open with its count and time after the candidate fails', async () => {
    await h.rb.search('warm up', { subject: 'u-0' });
    await h.rb.router.refresh();
    const before = (await call(h, 'GET', '/v1/status')).json.breakers;
    expect(before).toEqual([{ profile: 'next', state: 'closed', opens: 0, lastOpenAt: null }]);

    failing = true;
    const reasons: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await call(h, 'POST', '/v1/search', { body: { query: `document ${i}`, subject: `u-${i}` } });
      expect(res.status).toBe(200);
      expect(res.json.profile).toBe('base');
      expect(res.json.fallback).toBe(true);
      reasons.push(res.json.fallbackReason.kind);
    }
    expect(reasons.at(-1)).toBe('breaker_open');

    const after = (await call(h, 'GET', '/v1/status')).json.breakers;
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ profile: 'next', state: 'open', opens: 1 });
    expect(Number.isNaN(Date.parse(after[0].lastOpenAt))).toBe(false);
    const metrics = (await call(h, 'GET', '/metrics')).text;
    expect(metrics).toContain('reembed_circuit_breaker_state{profile="next",state="open"} 1');
    expect(metrics).toContain('reembed_circuit_breaker_state{profile="next",state="closed"} 0');
    expect(metrics).toContain('reembed_circuit_breaker_opens_total{profile="next"} 1');
  });
});
