import { backoffDelay } from '../backoff.js';
/** SQLSTATEs of a transaction that lost to another one: a deadlock, a serialization conflict, a lock not available. */
const CONFLICT_SQLSTATES = new Set(['40P01', '40001', '55P03']);

/** SQLSTATEs of a server shutting down, restarting or out of connections. */
const SERVER_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Socket errors of a connection that broke or could not be made. */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/** The error and its `cause` chain (reembed wraps driver errors), at most 5 deep. */
function* chain(error: unknown): Generator<{ code?: unknown; message?: unknown }> {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    yield e as { code?: unknown; message?: unknown };
    e = (e as { cause?: unknown }).cause;
  }
}

/** Whether the error, or one it wraps, carries this SQLSTATE (e.g. `23505`, a unique violation). */
export function hasSqlState(error: unknown, sqlState: string): boolean {
  for (const e of chain(error)) if (e.code === sqlState) return true;
  return false;
}

/**
 * The connection a query ran on is gone or unusable: the server ended it (shutdown, restart,
 * a terminated backend), the socket broke, or it could not connect. Such a client must not go
 * back to a pool.
 */
export function isBrokenConnectionError(error: unknown): boolean {
  for (const e of chain(error)) {
    if (typeof e.code === 'string') {
      if (SERVER_SQLSTATES.has(e.code) || SOCKET_CODES.has(e.code)) return true;
      // Class 08: connection exceptions.
      if (/^08[0-9A-Z]{3}$/.test(e.code)) return true;
    }
    // node-postgres reports a connection closed under a query without a code.
    if (
      typeof e.message === 'string' &&
      /Connection terminated|connection is closed|Client has encountered a connection error/i.test(e.message)
    )
      return true;
  }
  return false;
}

/**
 * A database failure that says nothing about the work itself: retrying it later, on a new
 * connection, may succeed (a broken connection, or a transaction that lost a conflict).
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (isBrokenConnectionError(error)) return true;
  for (const e of chain(error)) if (typeof e.code === 'string' && CONFLICT_SQLSTATES.has(e.code)) return true;
  return false;
}

/**
 * Runs idempotent work again after transient database errors (a server restart, a failover, a
 * dropped connection), with full-jitter backoff, for up to `budgetMs` of failures in a row;
 * any other error, or one past the budget, is thrown.
 */
export async function retryTransient<T>(
  work: () => Promise<T>,
  options: {
    budgetMs?: number;
    signal?: AbortSignal;
    onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  } = {},
): Promise<T> {
  const budget = options.budgetMs ?? 120_000;
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (options.signal?.aborted || !isTransientDatabaseError(error) || performance.now() - started >= budget)
        throw error;
      const delayMs = backoffDelay(attempt, 250, 15_000);
      options.onRetry?.(error, attempt, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
