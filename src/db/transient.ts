/**
 * SQLSTATEs after which the same work may simply be tried again: the transaction lost a
 * deadlock or a serialization conflict, a lock was not available, or the server is shutting
 * down, restarting or failing over.
 */
const TRANSIENT_SQLSTATES = new Set(['40P01', '40001', '55P03', '57P01', '57P02', '57P03', '53300']);

/** Socket errors of a connection that broke. */
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

/**
 * A database failure that says nothing about the work itself: retrying it later, on a new
 * connection, may succeed. Walks `cause` chains (reembed wraps driver errors).
 */
export function isTransientDatabaseError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e !== 'object') return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET_CODES.has(code)) return true;
      // Class 08: connection exceptions.
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    // node-postgres reports a connection closed under a query without a code.
    if (
      typeof message === 'string' &&
      /Connection terminated|connection is closed|Client has encountered a connection error/i.test(message)
    )
      return true;
  }
  return false;
}
