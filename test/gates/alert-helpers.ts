/** What the alert tests share: a webhook receiver that collects requests, serving rows, eval history lines. */
import { appendFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Profile } from '../../src/config/profile.js';
import type { Queryable } from '../../src/db/database.js';
import { RETRIEVAL_METRICS } from '../../src/eval/metrics.js';
import { SERVING_METRICS_TABLE } from '../../src/telemetry/serving-metrics.js';
import { bucketOf, emptyHistogram } from '../../src/telemetry/histogram.js';

export interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** A local HTTP server answering every POST with `status` (200 unless set) and keeping each body. */
export async function webhookReceiver(): Promise<{
  url: (path: string) => string;
  received: Received[];
  status: number;
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  const state = { status: 200 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(state.status).end('done');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    get status() {
      return state.status;
    },
    set status(s: number) {
      state.status = s;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One serving window of `requests` searches of `profile`, each taking `latencyMs`, written at `at`. */
export async function servingWindow(
  db: Queryable,
  profile: string,
  at: Date,
  options: { requests: number; latencyMs: number; errors?: number; migration?: { id: string; version: number } },
): Promise<void> {
  const counts = emptyHistogram();
  counts[bucketOf(options.latencyMs)] = options.requests - (options.errors ?? 0);
  await db.query(
    `INSERT INTO ${SERVING_METRICS_TABLE} (profile, window_start, instance, window_ms, migration_id, migration_version,
       recorded_at, requests, errors, latency_counts, latency_sum_ms)
     VALUES ($1, $2, 'test', 1000, $3, $4, $2, $5, $6, $7::bigint[], $8)`,
    [
      profile,
      at,
      options.migration?.id ?? '',
      options.migration?.version ?? 0,
      options.requests,
      options.errors ?? 0,
      counts,
      options.latencyMs * (options.requests - (options.errors ?? 0)),
    ],
  );
}

/** Appends an eval history line that evaluated each profile with the given recall@5 (other metrics alike). */
export function appendEvaluation(file: string, time: Date, recalls: Array<[Profile, number]>): void {
  const entry = {
    time: time.toISOString(),
    reembed: 'test',
    dataset: { name: 'fixture', dir: '/fixture', split: 'test', documents: 10, queries: 10 },
    database: 'pglite',
    k: 10,
    profiles: recalls.map(([p, recall]) => ({
      profile: p.name,
      fingerprint: p.fingerprint,
      provider: p.provider,
      model: null,
      dims: p.dims,
      exact: {
        ...Object.fromEntries(RETRIEVAL_METRICS.map((m) => [m, recall])),
        judgedQueries: 10,
        unjudgedQueries: 0,
      },
      ann: null,
      latencyMs: { embedP50: 1, embedP95: 1, searchP50: 1, searchP95: 1 },
      queriesPerSecond: 100,
    })),
    comparisons: [],
  };
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}
