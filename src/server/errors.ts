/**
 * Errors → HTTP. Every answer that is not a success is `{ error: { code, message } }`: the
 * facade's typed codes (REEMBED_ERROR_CODES) where the facade refused, and the few below for
 * what only HTTP can get wrong (no route, no or a wrong token, a body too large).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ReembedError, type ReembedErrorCode } from '../errors.js';
import { logger } from '../logger.js';
import { redactSecrets } from '../redact.js';

export const SERVER_ERROR_CODES = [
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'PAYLOAD_TOO_LARGE',
  'UNEXPECTED',
] as const;
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

export interface ErrorBody {
  error: { code: ReembedErrorCode | ServerErrorCode; message: string; details?: Record<string, unknown> };
}

/** An error the server raises itself (auth, routing), with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ReembedErrorCode | ServerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The HTTP status of a facade error: the caller's mistake, a conflict, the server's trouble. */
const STATUS: Partial<Record<ReembedErrorCode, number>> = {
  INVALID_REQUEST: 400,
  INVALID_ROLLOUT_PERCENT: 400,
  INVALID_IDENTIFIER: 400,
  LOAD_INVALID: 400,
  EMPTY_INPUT: 400,
  INPUT_TOO_LONG: 400,
  INVALID_VECTOR: 400,
  MIGRATION_NOT_FOUND: 404,
  // A store written by another configuration: the server's state, never the request's fault.
  FINGERPRINT_MISMATCH: 500,
  NO_MIGRATION: 404,
  STORE_MISSING: 404,
  TRANSITION_REFUSED: 409,
  MIGRATION_CHANGED: 409,
  MIGRATION_ACTIVE: 409,
  CONTROLLER_RUNNING: 409,
  CONTROLLER_STANDBY: 409,
  LOAD_NOT_MANAGED: 409,
  OVERLOADED: 503,
  DATABASE_ERROR: 503,
  DATABASE_LOCKED: 503,
  NOT_OPEN: 503,
  PROFILE_GATE_VIOLATION: 503,
  SEARCH_TIMEOUT: 504,
  CANDIDATE_TIMEOUT: 504,
  RATE_LIMITED: 502,
  PROVIDER_UNAVAILABLE: 502,
  PROVIDER_AUTH: 502,
  PROVIDER_REJECTED: 502,
  INVALID_RESPONSE: 502,
};

export function httpStatusOf(error: ReembedError): number {
  // Other usage errors (a bad duration, an unknown profile, a percent out of range) are the caller's.
  return STATUS[error.code] ?? (error.exitCode === 2 ? 400 : 500);
}

function body(code: ErrorBody['error']['code'], message: string, details?: Record<string, unknown>): ErrorBody {
  return { error: { code, message: redactSecrets(message), ...(details ? { details } : {}) } };
}

/** Fastify's error handler: typed errors keep their code; Fastify's own 4xx (bad JSON, schema) are INVALID_REQUEST. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof HttpError) {
    void reply.code(error.statusCode).send(body(error.code, error.message));
    return;
  }
  if (error instanceof ReembedError) {
    const status = httpStatusOf(error);
    if (status >= 500) request.log.warn({ err: error, code: error.code }, 'request failed');
    const details = error.details ? JSON.parse(redactSecrets(JSON.stringify(error.details))) : undefined;
    if (error.code === 'OVERLOADED') void reply.header('retry-after', '1');
    void reply.code(status).send(body(error.code, error.message, details));
    return;
  }
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_REQUEST';
    void reply.code(status).send(body(code, error.message));
    return;
  }
  (request.log ?? logger).error({ err: error }, 'unexpected error');
  void reply.code(500).send(body('UNEXPECTED', 'unexpected error: see the server log'));
}

/** The JSON schema of an error answer, for the OpenAPI document. */
export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;
