/**
 * What a search request must be before it is routed. A caller's mistake (an empty query, a k
 * out of range, a filter on a column the source does not have) is the caller's: it fails with
 * InvalidRequestError before any profile runs, so it is counted as neither profile's error and
 * can never open the candidate's circuit breaker or trip a rollback gate.
 */
import { EmbedderError, EmptyInputError, InputTooLongError } from '../embedders/errors.js';
import { ReembedError } from '../errors.js';
import type { Source } from '../source/source.js';
import type { SearchOptions } from '../store/search.js';

/** pgvector's hnsw.ef_search ceiling, and so the largest k a search can return in full. */
export const MAX_K = 1000;
/** Far above any embedding model's input limit; a longer query is refused before it is embedded. */
export const DEFAULT_MAX_QUERY_CHARS = 100_000;

/** The request itself is wrong; exit code 2. Never counted against a profile. */
export class InvalidRequestError extends ReembedError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('INVALID_REQUEST', message, { exitCode: 2, ...options });
  }
}

export interface ValidRequest {
  query: string;
  k: number;
  subject: string | null;
  filter: SearchOptions['filter'];
}

/** Columns a search may filter on: the source's columns (the managed table's are fixed). */
export function filterColumns(source: Source): string[] {
  return source.kind === 'managed' ? ['id', 'content', 'metadata', 'updated_at'] : source.columns;
}

export function validateSearchRequest(
  source: Source,
  query: unknown,
  request: { k?: unknown; subject?: unknown; filter?: unknown } = {},
  maxQueryChars = DEFAULT_MAX_QUERY_CHARS,
): ValidRequest {
  if (typeof query !== 'string') throw new InvalidRequestError(`the query must be a string, got ${typeName(query)}`);
  if (query.trim() === '') throw new InvalidRequestError('the query is empty');
  if (query.length > maxQueryChars)
    throw new InvalidRequestError(`the query has ${query.length} characters, more than the limit of ${maxQueryChars}`);
  const k = request.k ?? 10;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_K)
    throw new InvalidRequestError(`k must be a whole number from 1 to ${MAX_K}, got ${describe(k)}`);
  const subject = request.subject ?? null;
  if (subject !== null && typeof subject !== 'string')
    throw new InvalidRequestError(`the subject must be a string, got ${typeName(subject)}`);
  return { query, k, subject, filter: validateFilter(source, request.filter) };
}

function validateFilter(source: Source, filter: unknown): SearchOptions['filter'] {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== 'object' || Array.isArray(filter))
    throw new InvalidRequestError(`the filter must be {column, value}, got ${typeName(filter)}`);
  const { column, value } = filter as { column?: unknown; value?: unknown };
  const known = filterColumns(source);
  if (typeof column !== 'string' || !known.includes(column))
    throw new InvalidRequestError(
      `the filter column ${describe(column)} is not a column of the source (it has: ${known.join(', ')})`,
    );
  if (typeof value !== 'string')
    throw new InvalidRequestError(`the filter value must be a string, got ${typeName(value)}`);
  return { column, value };
}

/**
 * Errors that say the input was unusable rather than that the profile failed: the embedder
 * refused the text (empty, too long under `on_too_long: fail`, nothing to hash) or the request
 * was invalid. They never count against a profile's health.
 */
export function isCallerError(error: unknown): boolean {
  return (
    error instanceof InvalidRequestError ||
    error instanceof EmptyInputError ||
    error instanceof InputTooLongError ||
    (error instanceof ReembedError && error.code === 'INVALID_EF_SEARCH')
  );
}

/** A caller error from an embedder or the store, as the InvalidRequestError the caller gets. */
export function asInvalidRequest(error: unknown): InvalidRequestError {
  if (error instanceof InvalidRequestError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InvalidRequestError(
    error instanceof EmbedderError ? `the query cannot be embedded: ${message}` : message,
    { cause: error },
  );
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  return typeName(value);
}
