/**
 * Just-in-time re-embedding on search, as a user of the facade sees it (issue 13 item 4): while
 * the candidate is still filling, a search served by the control queues the documents it
 * returned that the candidate lacks; status shows them waiting, then embedded with their time
 * to embed once a worker has run.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type ProfileStatus, type Reembed } from '../../src/index.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';
import { scaled } from '../helpers/slowdown.js';

const MANIFEST = `source:
  managed: true
profiles:
  base:
    provider: hash
    dims: 16
  next:
    provider: hash
    dims: 24
environments:
  test:
    profile: base
`;

describe.each(BACKENDS)('just-in-time requests in status on %s', (backend) => {
  let target: string;
  let drop: (() => Promise<void>) | null = null;
  let rb: Reembed;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), `reembed-jit-${backend}-`));
    const config = join(dir, 'reembed.yaml');
    writeFileSync(config, MANIFEST);
    if (backend === 'pglite') target = join(dir, 'data');
    else ({ url: target, drop } = await createServerDatabase());
    rb = await open({ config, db: target, env: { REEMBED_ENV: 'test' } });
  });
  afterAll(async () => {
    await rb?.close();
    await drop?.();
  });

  const jitOf = async (name: string): Promise<ProfileStatus['jit']> =>
    (await rb.status()).profiles.find((p) => p.profile === name)!.jit;

  it('shows the documents a search asked for as waiting, then as embedded with their time to embed', async () => {
    const docs = Array.from({ length: 30 }, (_, i) => ({
      id: `f${i}`,
      content: `font ${i} ${i % 3 ? 'serif' : 'mono'}`,
    }));
    await rb.upsert(docs, { sync: true });
    await rb.backfill.run('base');
    const { migration } = await rb.migration.plan('next');
    await rb.migration.start({ expectVersion: migration.version });
    // The candidate has no vector yet: the control serves, and the hits are asked for.
    const served = await rb.search('serif', { k: 5, subject: 'someone' });
    expect(served.profile).toBe('base');
    const asked = served.hits.map((h) => h.id);
    expect(asked).toHaveLength(5);

    const deadline = Date.now() + scaled(20_000);
    let jit = await jitOf('next');
    while (jit.pending < asked.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      jit = await jitOf('next');
    }
    expect(jit).toMatchObject({ pending: asked.length, completed: 0, timeToEmbedMs: null });
    expect(jit.oldestPendingSeconds).not.toBeNull();

    await rb.backfill.work({ drain: true, profiles: ['next'] });
    const after = await jitOf('next');
    expect(after).toMatchObject({ pending: 0, completed: asked.length, oldestPendingSeconds: null });
    expect(after.itemsPerMinute).toBeCloseTo(asked.length / 5, 6);
    expect(after.timeToEmbedMs!.max).toBeGreaterThanOrEqual(after.timeToEmbedMs!.p50);
    // The control was never asked for anything.
    expect(await jitOf('base')).toMatchObject({ pending: 0, completed: 0 });
  });
});
