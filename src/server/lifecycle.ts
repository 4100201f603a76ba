/**
 * Listening and shutting down: stop accepting, let in-flight requests finish (bounded), then
 * close the facade (router and database). SIGTERM and SIGINT start it; a second signal exits.
 */
import type { FastifyInstance } from 'fastify';
import { logger } from '../logger.js';
import type { Reembed } from '../reembed.js';
import { isLoopback, type Tokens } from './auth.js';

export { DEFAULT_HOST, DEFAULT_PORT } from './defaults.js';

/**
 * Refuses what would expose admin routes, or writes and deletes, without a token on a reachable
 * address (`anonymousApi` accepts the latter knowingly).
 */
export function checkBind(host: string, tokens: Tokens, openAdmin: boolean, anonymousApi = false): string | null {
  if (isLoopback(host)) return null;
  if (openAdmin && !tokens.admin)
    return `refusing to serve admin routes without a token on ${host}: set REEMBED_ADMIN_TOKEN, or bind 127.0.0.1`;
  if (!tokens.api && !anonymousApi)
    return (
      `refusing to serve search and writes without a token on ${host} (anyone who reaches it could delete documents): ` +
      'set REEMBED_API_TOKEN, bind 127.0.0.1, or pass --anonymous-api'
    );
  return null;
}

/**
 * Closes the server: no new connections, in-flight requests finish within `graceMs` (then their
 * connections are cut), then the facade closes. Resolves when everything is released.
 */
export async function shutdown(app: FastifyInstance, rb: Reembed, graceMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closing = app.close();
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
    timer.unref();
  });
  const outcome = await Promise.race([closing.then(() => 'done' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'late') {
    logger.warn({ graceMs }, 'shutdown: requests still running after the grace period; closing their connections');
    app.server.closeAllConnections();
    await closing;
  }
  await rb.close();
}

/** SIGTERM/SIGINT → `stop()` once; a second signal exits at once. Returns the disposer. */
export function onShutdownSignal(stop: (signal: string) => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
