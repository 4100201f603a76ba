import type { Reembed } from '../reembed.js';
import type { Role, Tokens } from './auth.js';
import type { BreakerTracker } from './breakers.js';

/** What every route module is given: the facade, the tokens, and the server's settings. */
export interface ServerContext {
  rb: Reembed;
  tokens: Tokens;
  /** Admin routes without a token (loopback only). */
  openAdmin: boolean;
  /** Requests must name a loopback Host (the server listens on loopback only). */
  loopbackOnly: boolean;
  breakers: BreakerTracker;
  /** Alert severities that roll the active migration back (default: critical). */
  rollbackSeverities: string[];
  /** A readiness check gives up after this long (default 3 s). */
  readyTimeoutMs: number;
}

/** `config.role` on a route: who may call it (checked in the app's onRequest hook). */
declare module 'fastify' {
  interface FastifyContextConfig {
    role?: Role;
  }
  /** What openapi.ts reads beside the validation schemas. */
  interface FastifySchema {
    summary?: string;
    tags?: string[];
    /** Not in the OpenAPI document (the dashboard's page and assets). */
    hide?: boolean;
  }
}
