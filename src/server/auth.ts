/**
 * Bearer tokens. Three roles, each with its own secret from the environment: `admin`
 * (REEMBED_ADMIN_TOKEN: migration transitions, backfill controls, failures), `api`
 * (REEMBED_API_TOKEN, optional: search, writes and the read endpoints; the admin token is
 * accepted too) and `alert` (REEMBED_ALERT_TOKEN: the inbound alert webhook). Tokens are
 * compared in constant time and never logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

export type Role = 'admin' | 'api' | 'alert' | 'public';

export interface Tokens {
  admin?: string;
  api?: string;
  alert?: string;
}

export const TOKEN_ENV = {
  admin: 'REEMBED_ADMIN_TOKEN',
  api: 'REEMBED_API_TOKEN',
  alert: 'REEMBED_ALERT_TOKEN',
} as const;

/** The tokens of the environment (empty values count as unset). */
export function tokensFromEnv(env: NodeJS.ProcessEnv): Tokens {
  const get = (name: string) => (env[name]?.trim() ? env[name]!.trim() : undefined);
  return { admin: get(TOKEN_ENV.admin), api: get(TOKEN_ENV.api), alert: get(TOKEN_ENV.alert) };
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : '';
}

/**
 * Checks a request for a role: 401 without a token, 403 with a wrong one, 403 when the role has
 * no token configured (saying how to enable it). `openAdmin` lets admin routes through without a
 * token (loopback only: serve refuses it on any other address).
 */
export function authorize(request: FastifyRequest, role: Role, tokens: Tokens, openAdmin = false): void {
  if (role === 'public') return;
  if (role === 'admin' && openAdmin && !tokens.admin) return;
  if (role === 'api' && !tokens.api) return;
  const expected = role === 'admin' ? tokens.admin : role === 'alert' ? tokens.alert : tokens.api;
  if (!expected) {
    const env = role === 'admin' ? TOKEN_ENV.admin : TOKEN_ENV.alert;
    throw new HttpError(
      403,
      'FORBIDDEN',
      `${role} routes are disabled: set ${env} in the server's environment to enable them`,
    );
  }
  const given = bearer(request);
  if (given === null)
    throw new HttpError(401, 'UNAUTHORIZED', `this route needs Authorization: Bearer <${role} token>`);
  const accepted = [expected, ...(role === 'api' && tokens.admin ? [tokens.admin] : [])];
  // Every candidate is compared, so the time does not tell which one matched.
  const ok = accepted.map((t) => sameToken(given, t)).some(Boolean);
  if (!ok) throw new HttpError(403, 'FORBIDDEN', `the ${role} token is wrong`);
}

/**
 * Refuses a state-changing request a web page made on another site (CSRF: a page can POST to
 * 127.0.0.1 without a preflight), and, when the server listens on loopback only, a request whose
 * Host is not a loopback name (DNS rebinding: a page on attacker.example resolving to 127.0.0.1).
 * Clients that are not browsers (curl, SDKs, Alertmanager) send neither header and pass.
 */
export function refuseCrossSite(request: FastifyRequest, loopbackOnly: boolean): void {
  const host = request.headers.host ?? '';
  if (loopbackOnly && host !== '' && !isLoopback(host.replace(/:\d+$/, '')))
    throw new HttpError(403, 'FORBIDDEN', `this server answers loopback names only, not Host ${JSON.stringify(host)}`);
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none')
    throw new HttpError(403, 'FORBIDDEN', `a ${site} request from a web page may not change anything here`);
  const origin = request.headers.origin;
  if (typeof origin === 'string' && origin !== '') {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = '';
    }
    // Compared as URLs see them: a default port is dropped on both sides.
    let hostAsUrl: string;
    try {
      hostAsUrl = new URL(`${new URL(origin).protocol}//${host}`).host;
    } catch {
      hostAsUrl = host;
    }
    if (originHost === '' || originHost !== hostAsUrl)
      throw new HttpError(
        403,
        'FORBIDDEN',
        `a request from origin ${JSON.stringify(origin)} may not change anything here`,
      );
  }
}

/** Whether a host name or address binds only the loopback interface. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}
