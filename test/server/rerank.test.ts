/**
 * The rerank stage through the HTTP API on both databases: GET /v1/rerank and POST
 * /v1/rerank/:state (admin), and /v1/search saying which arm served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.js';
import { startFakeReranker, type FakeReranker } from '../helpers/fake-reranker.js';
import { call, docs, startHarness, type Harness } from './harness.js';

const ADMIN = 'admin-secret-token-1';

describe.each(BACKENDS)('rerank over HTTP on %s', (backend) => {
  let h: Harness;
  let fake: FakeReranker;

  beforeAll(async () => {
    fake = await startFakeReranker();
    h = await startHarness(backend, {
      server: { tokens: { admin: ADMIN } },
      manifest: `source:
  managed: true
profiles:
  base:
    provider: hash
    dims: 32
    rerank: { provider: http, base_url: "${fake.url}", model: rr, top_n: 6 }
environments:
  test:
    profile: base
`,
    });
    await h.rb.upsert(docs(12));
    await h.rb.backfill.run('base');
  });
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('serves the rerank arm, switches it off for every instance and back, and needs the admin token', async () => {
    const on = await call(h, 'POST', '/v1/search', { body: { query: 'document five', k: 3 } });
    expect(on.status).toBe(200);
    expect(on.json.rerank).toBe('on');
    expect(fake.requests.at(-1)!.body.documents).toHaveLength(6);

    expect((await call(h, 'POST', '/v1/rerank/off', { body: {} })).status).toBe(401);
    const off = await call(h, 'POST', '/v1/rerank/off', { token: ADMIN, body: { reason: 'kill' } });
    expect(off.status).toBe(200);
    expect(off.json.profiles).toEqual([{ profile: 'base', provider: 'http', topN: 6, percent: 100, state: 'off' }]);
    await h.rb.router.refresh();
    const calls = fake.requests.length;
    const served = await call(h, 'POST', '/v1/search', { body: { query: 'document five', k: 3 } });
    expect(served.json.rerank).toBe('off');
    expect(fake.requests.length).toBe(calls);

    const bad = await call(h, 'POST', '/v1/rerank/maybe', { token: ADMIN, body: {} });
    expect(bad.status).toBe(400);
    const status = await call(h, 'GET', '/v1/rerank', { token: ADMIN });
    expect(status.json.switches).toMatchObject([{ profile: '*', state: 'off', reason: 'kill', actor: 'http' }]);
    await call(h, 'POST', '/v1/rerank/on', { token: ADMIN, body: {} });
    await h.rb.router.refresh();
    expect((await call(h, 'POST', '/v1/search', { body: { query: 'document five', k: 3 } })).json.rerank).toBe('on');
    const doc = (await call(h, 'GET', '/openapi.json')).json;
    expect(doc.paths['/v1/rerank/{state}']?.post).toBeDefined();
    expect(doc.paths['/v1/rerank']?.get).toBeDefined();
  });
});
