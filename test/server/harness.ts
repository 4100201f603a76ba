/**
 * A reembed server over a fresh database of either kind, driven in-process through Fastify's
 * inject (no port) or on a free port of 127.0.0.1 when a test needs real connections.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { open, type OpenOptions, type Reembed } from '../../src/index.js';
import { buildServer, type ReembedServer, type ServerOptions } from '../../src/server/serve.js';
import { createServerDatabase, type Backend } from '../helpers/databases.js';

export const MANIFEST = `source:
  managed: true
profiles:
  base:
    provider: hash
    dims: 32
  next:
    provider: hash
    dims: 48
environments:
  test:
    profile: base
rollout:
  steps: [5, 25, 50, 100]
  interval: 500ms
  step_min_duration: 0
  step_min_requests: 0
  shadow_sample: 0
`;

export const ENV = { REEMBED_ENV: 'test' };

export interface Harness {
  rb: Reembed;
  server: ReembedServer;
  /** Every log line the server wrote, as text. */
  logs: string[];
  dir: string;
  close(): Promise<void>;
}

/** A database target of the backend, and how to drop it. */
export async function testDatabase(backend: Backend): Promise<{ target: string; drop: () => Promise<void> }> {
  if (backend === 'pglite') return { target: 'memory://', drop: async () => {} };
  const db = await createServerDatabase();
  return { target: db.url, drop: db.drop };
}

export function manifestFile(dir: string, text = MANIFEST): string {
  const file = join(dir, 'reembed.yaml');
  writeFileSync(file, text);
  return file;
}

/** Opens the facade (router lazy, as `serve` does) and builds the server over it. */
export async function startHarness(
  backend: Backend,
  options: {
    server?: ServerOptions;
    open?: Omit<OpenOptions, 'config' | 'db'>;
    target?: string;
    drop?: () => Promise<void>;
    manifest?: string;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), `reembed-serve-${backend}-`));
  const database = options.target
    ? { target: options.target, drop: options.drop ?? (async () => {}) }
    : await testDatabase(backend);
  const rb = await open({
    config: manifestFile(dir, options.manifest),
    db: database.target,
    env: ENV,
    actor: 'http',
    router: { lazy: true, pollMs: 100 },
    ...options.open,
  });
  // As `reembed serve` does before listening: the database opened and its schema brought up to date.
  await rb.schema();
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  // A generous readiness deadline: the machine may be busy; the down-database test sets its own.
  const server = await buildServer(rb, {
    logger: pino({ level: 'trace' }, stream),
    readyTimeoutMs: 60_000,
    ...options.server,
  });
  return {
    rb,
    server,
    logs,
    dir,
    close: async () => {
      await server.app.close();
      await rb.close();
      await database.drop();
    },
  };
}

/** Fastify's inject with a JSON body; returns status and parsed JSON (or text). */
/**
 * A parsed JSON answer. The routes answer many shapes and the tests read them field by field,
 * so this is deliberately loose; every field read is asserted.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function call(
  h: Harness,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  options: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json; text: string; headers: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined || options.raw !== undefined) headers['content-type'] ??= 'application/json';
  const res = await h.server.app.inject({
    method,
    url,
    headers,
    payload: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  let json: Json = null;
  try {
    json = res.json();
  } catch {
    // Not JSON (the dashboard, Prometheus text).
  }
  return { status: res.statusCode, json, text: res.body, headers: res.headers };
}

export const docs = (n: number, prefix = 'doc') =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    content: `document ${i} about ${['cats', 'dogs', 'birds', 'fish'][i % 4]} and number ${i}`,
  }));
