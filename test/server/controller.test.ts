/**
 * `serve --controller`: the controller loop in the service's process drives the newest
 * migration through the manifest's steps by its gates (here: coverage only) and stops at
 * cutover; a migration planned later is picked up without a restart; the signal stops the loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runControllerLoop } from '../../src/server/serve.js';
import { BACKENDS } from '../helpers/databases.js';
import { call, docs, MANIFEST, startHarness, type Harness } from './harness.js';

const GATED = MANIFEST.replace(
  /rollout:[\s\S]*$/,
  `rollout:
  steps: [50, 100]
  interval: 200ms
  step_min_duration: 0
  step_min_requests: 0
  shadow_sample: 0
  gates:
    - name: coverage
      metric: coverage
      min: 1
`,
);

describe.each(BACKENDS)('the in-process controller loop on %s', (backend) => {
  let h: Harness;
  const stop = new AbortController();
  let loop: Promise<void> | null = null;

  beforeAll(async () => {
    h = await startHarness(backend, { manifest: GATED, server: { openAdmin: true } });
    await call(h, 'PUT', '/v1/documents', { body: { documents: docs(12) } });
    await h.rb.backfill.run('base');
  });
  afterAll(async () => {
    stop.abort();
    await loop;
    await h?.close();
  });

  it('drives a migration to cutover by its gates, then picks up the next one', async () => {
    const ticks: string[] = [];
    loop = runControllerLoop(h.rb, {
      signal: stop.signal,
      actor: 'serve-controller',
      idleMs: 100,
      onTick: (t) => ticks.push(`${t.tick.phase}:${t.tick.decision}`),
    });
    // No migration yet: the loop waits.
    const plan = await call(h, 'POST', '/v1/migrations', { body: { to: 'next' } });
    expect(plan.status).toBe(201);
    await call(h, 'POST', '/v1/migrations/current/start');
    await h.rb.backfill.run('next');
    const phase = async () => (await call(h, 'GET', '/v1/status')).json.migration.migration.phase as string;
    await expect.poll(phase, { timeout: 120_000, interval: 200 }).toBe('cutover');
    const events = (await call(h, 'GET', '/v1/migrations/current/history')).json.events as Array<{
      actor: string;
      toPhase: string;
      toPercent: number;
    }>;
    const byController = events
      .filter((e) => e.actor === 'serve-controller')
      .map((e) => `${e.toPhase} ${e.toPercent}%`);
    expect(byController).toEqual(['shadow 0%', 'canary 50%', 'cutover 100%']);
    expect(ticks.filter((t) => t.endsWith(':promote')).length).toBeGreaterThanOrEqual(2);

    // The next migration (back to base once this one is cleaned up) is driven too, without a restart.
    expect((await call(h, 'POST', '/v1/migrations/current/finalize')).json.phase).toBe('finalized');
    const cleaned = await call(h, 'POST', '/v1/migrations/current/cleanup', { body: { olderThan: '0s' } });
    expect(cleaned.json.phase).toBe('cleaned');
    const again = await call(h, 'POST', '/v1/migrations', { body: { to: 'base', from: 'next' } });
    expect(again.status).toBe(201);
    await call(h, 'POST', '/v1/migrations/current/start');
    await h.rb.backfill.run('base');
    await expect.poll(phase, { timeout: 120_000, interval: 200 }).toBe('cutover');
    stop.abort();
    await loop;
  });
});
