/**
 * A worker that stops while it fetches images abandons the fetches at once (each could otherwise
 * hold it for image.fetch_timeout_ms, a page's worth in turn) and fails no row for it: the rows
 * stay to be embedded by a later run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBackfill } from '../../src/backfill/backfill.js';
import { countCoverage } from '../../src/backfill/coverage.js';
import { FAILURES_TABLE } from '../../src/backfill/tables.js';
import { runWorker } from '../../src/backfill/worker.js';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import { resolveSource } from '../../src/source/source.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';
import { scaled } from '../helpers/slowdown.js';
import { waitFor } from '../helpers/wait.js';

describe.each(BACKENDS)('a worker stopping during image fetches on %s', (backend) => {
  let server: Server;
  let base = '';
  const hanging: Array<() => void> = [];
  let requests = 0;
  beforeAll(async () => {
    // Answers nothing until the test ends: every fetch waits for its timeout or its abort.
    server = createServer((_req, res) => {
      requests++;
      hanging.push(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const end of hanging.splice(0)) end();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('abandons the fetches in flight, returns promptly and fails no row', async () => {
    const db = await openTestDatabase(backend);
    try {
      await db.exec(`CREATE TABLE public.pics (id integer PRIMARY KEY, name text NOT NULL, url text NOT NULL)`);
      await db.query(
        `INSERT INTO public.pics (id, name, url) SELECT i, 'pic ' || i, $1 || '/pic/' || i || '.png' FROM generate_series(1, 20) AS i`,
        [base],
      );
      const manifest = buildManifest(
        {
          source: { table: 'public.pics', id: 'id', text: '{name}' },
          profiles: {
            pics: {
              provider: 'hash-image',
              dims: 32,
              input: { text: '{name}', image: '{url}' },
              image: { fetch_timeout_ms: 600_000 },
            },
          },
          environments: { development: { profile: 'pics' } },
        },
        null,
      );
      const source = await resolveSource(db, manifest.source);
      const profile = getProfile(manifest, 'pics');
      await prepareBackfill(db, source, profile, manifest.profiles);
      const stop = new AbortController();
      const worker = runWorker(db, { source, profiles: [profile], mode: 'drain', signal: stop.signal });
      expect(await waitFor(() => requests > 0, 10_000)).toBe(true);
      stop.abort();
      // Far sooner than the fetch timeout (10 minutes): the fetches were abandoned.
      const stopped = await Promise.race([
        worker.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), scaled(10_000))),
      ]);
      expect(stopped).toBe(true);
      const { rows } = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${FAILURES_TABLE}`);
      expect(Number(rows[0]!.n)).toBe(0);
      expect(await countCoverage(db, source, profile)).toMatchObject({ sourceRows: 20, current: 0 });
    } finally {
      await db.close();
    }
  });
});
