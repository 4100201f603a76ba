/**
 * Graceful shutdown with requests in flight, on both databases: once shutdown starts no new
 * connection is accepted, a search already running finishes with its answer, and only then is
 * the facade closed; a request still running after the grace period has its connection cut so
 * shutdown still ends. The query embedder is held on a latch so "in flight" is a fact, not a timing.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HashProvider } from '../../src/embedders/hash.js';
import type { Profile } from '../../src/config/profile.js';
import { shutdown } from '../../src/server/serve.js';
import { BACKENDS } from '../helpers/databases.js';
import { call, docs, ENV, startHarness, type Harness } from './harness.js';

/** A hash provider that, once `hold()` is called, keeps each embedding waiting until `release()`. */
function latchedProvider() {
  let held = false;
  let release: () => void = () => {};
  let gate = Promise.resolve();
  let entered: () => void = () => {};
  let waiting = new Promise<void>((resolve) => (entered = resolve));
  return {
    hold() {
      held = true;
      gate = new Promise<void>((resolve) => (release = resolve));
      waiting = new Promise<void>((resolve) => (entered = resolve));
    },
    release: () => {
      held = false;
      release();
    },
    /** Resolves when an embedding is waiting on the latch. */
    entered: () => waiting,
    factory: (profile: Profile) => {
      const hash = new HashProvider(profile);
      return {
        provider: 'hash' as const,
        embedBatch: async (texts: string[]) => {
          if (held) {
            entered();
            await gate;
          }
          return hash.embedBatch(texts);
        },
      };
    },
  };
}

const settled = <T>(p: Promise<T>) => {
  const state = { done: false };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
};

describe.each(BACKENDS)('graceful shutdown on %s', (backend) => {
  let h: Harness | null = null;
  let latch: ReturnType<typeof latchedProvider>;

  afterEach(async () => {
    latch?.release();
    await h?.close().catch(() => {});
    h = null;
  });

  async function listening(): Promise<string> {
    latch = latchedProvider();
    h = await startHarness(backend, {
      open: {
        env: ENV,
        actor: 'http',
        router: { lazy: true, pollMs: 100, searchDeadlineMs: 600_000, embedderOptions: { provider: latch.factory } },
      },
    });
    await call(h, 'PUT', '/v1/documents', { body: { documents: docs(8) } });
    await h.rb.backfill.run('base', { embedderOptions: { provider: latch.factory } });
    await h.server.app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(h.server.app.server.address() as AddressInfo).port}`;
  }

  // A new query each time: a repeated one would come from the query cache, never reaching the
  // held embedder.
  let searches = 0;
  const search = (base: string) =>
    fetch(`${base}/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ query: `${docs(8)[3]!.content} ${++searches}`, k: 3 }),
    });

  it('finishes the requests in flight, refuses new connections, then closes', async () => {
    const base = await listening();
    expect((await search(base)).status).toBe(200);
    latch.hold();
    const inFlight = search(base);
    await latch.entered();
    const closing = shutdown(h!.server.app, h!.rb, 600_000);
    const closed = settled(closing);
    // While the search is held, shutdown cannot have finished, and new connections are refused.
    await expect(fetch(`${base}/health`, { headers: { connection: 'close' } })).rejects.toMatchObject({
      cause: { code: 'ECONNREFUSED' },
    });
    expect(closed.done).toBe(false);
    latch.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { hits: { id: string }[]; profile: string };
    expect(body.profile).toBe('base');
    expect(body.hits[0]!.id).toBe('doc-3');
    await closing;
    expect(h!.server.app.server.listening).toBe(false);
  });

  it('cuts a request still running after the grace period, so shutdown ends', async () => {
    const base = await listening();
    latch.hold();
    const inFlight = search(base).then(
      (r) => r.status,
      (e: Error) => e,
    );
    await latch.entered();
    const closing = shutdown(h!.server.app, h!.rb, 50);
    // The latch is released only after the connection was cut, so the request cannot have answered.
    const outcome = await inFlight;
    expect(outcome).toBeInstanceOf(Error);
    latch.release();
    await closing;
    expect(h!.server.app.server.listening).toBe(false);
  });
});
