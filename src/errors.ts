/**
 * Typed errors. Every error reembed raises on purpose is a ReembedError with a stable `code`
 * and the process exit code the CLI uses for it (2: usage or configuration, 1: a failed
 * check or operation).
 */
/** Every code a ReembedError can carry: stable, for programs to branch on. */
export const REEMBED_ERROR_CODES = [
  // configuration and usage (exit 2)
  'CONFIG_INVALID',
  'PROFILE_GATE_VIOLATION',
  'INVALID_IDENTIFIER',
  'INVALID_NORMALIZER',
  'INVALID_ROLLOUT_PERCENT',
  'INVALID_ANN_OPTION',
  'INVALID_EF_SEARCH',
  'INVALID_PROBES',
  'ANN_INDEX_STALE',
  'INVALID_TUNE_OPTION',
  'ANN_NOT_INDEXABLE',
  'FINGERPRINT_MISMATCH',
  'LOAD_FILE',
  'LOAD_NOT_MANAGED',
  'DATASET_NOT_FOUND',
  'NOT_OPEN',
  'RERANK_WEIGHTS_INVALID',
  'RERANK_NOT_CONFIGURED',
  // database
  'DATABASE_ERROR',
  'DATABASE_LOCKED',
  // the serving path
  'INVALID_REQUEST',
  'OVERLOADED',
  'SEARCH_TIMEOUT',
  'CANDIDATE_TIMEOUT',
  // embedding providers
  'RATE_LIMITED',
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_AUTH',
  'PROVIDER_REJECTED',
  'INVALID_RESPONSE',
  'INPUT_TOO_LONG',
  'EMPTY_INPUT',
  'IMAGE_INVALID',
  // stores, indexes, loads
  'INVALID_VECTOR',
  'STORE_MISSING',
  'INDEX_BUILD_FAILED',
  'ANN_INDEX_MISSING',
  'ANN_INDEX_INVALID',
  'ANN_NO_VECTORS',
  'LOAD_INVALID',
  // migrations and the controller
  'TRANSITION_REFUSED',
  'MIGRATION_CHANGED',
  'MIGRATION_NOT_FOUND',
  'MIGRATION_ACTIVE',
  'NO_MIGRATION',
  'CONTROLLER_RUNNING',
  'CONTROLLER_STANDBY',
  // evaluation
  'DATASET_INVALID',
  'EVAL_INCOMPLETE_BACKFILL',
  'EVAL_NEEDS_EMPTY_DATABASE',
  'TREC_FORMAT',
  'EVAL_HISTORY_INVALID',
  'EVAL_HISTORY_RUN_NOT_FOUND',
  // the demo
  'DEMO_NEEDS_EMPTY_DATABASE',
  'DEMO_VERIFY_FAILED',
  'DEMO_ROLLOUT_FAILED',
  // The font story: fontconfig or the font packages are missing, or a font file cannot be read.
  'FONTS_NOT_INSTALLED',
  'FONT_UNREADABLE',
] as const;

export type ReembedErrorCode = (typeof REEMBED_ERROR_CODES)[number];

export class ReembedError extends Error {
  readonly code: ReembedErrorCode;
  readonly exitCode: number;
  readonly details?: Record<string, unknown>;

  constructor(
    code: ReembedErrorCode,
    message: string,
    options: { exitCode?: number; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    this.details = options.details;
  }
}

/** A configuration problem: one or more messages, exit code 2. */
export class ConfigError extends ReembedError {
  readonly problems: string[];
  constructor(problems: string[] | string, options: { cause?: unknown } = {}) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(
      'CONFIG_INVALID',
      list.length === 1 ? list[0]! : `${list.length} configuration problems:\n- ${list.join('\n- ')}`,
      { exitCode: 2, cause: options.cause },
    );
    this.problems = list;
  }
}

/** The environment asks for a profile it is not allowed to use (see config/environment.ts). */
export class ProfileGateError extends ReembedError {
  constructor(message: string, details: Record<string, unknown>) {
    super('PROFILE_GATE_VIOLATION', message, { exitCode: 2, details });
  }
}

/** A name from configuration that cannot be used as an SQL identifier. */
export class IdentifierError extends ReembedError {
  constructor(message: string) {
    super('INVALID_IDENTIFIER', message, { exitCode: 2 });
  }
}

/** Why an image input could not be used (the failures table records it with the row). */
export const IMAGE_FAILURE_REASONS = [
  'unreadable', // a path that cannot be read, a URL that cannot be reached
  'http_status', // a URL that answered 404, 500, ...
  'timeout', // a URL slower than image.fetch_timeout_ms
  'content_type', // a URL or data URI that is not image/*
  'too_large', // more than image.max_bytes
  'format', // bytes that are not PNG, JPEG, GIF or WebP
  'decode', // bytes of a known format that do not decode
  'invalid_value', // a column value that is none of bytea, data URI, path, URL
  'not_allowed', // a URL host outside image.allow_hosts, a path outside image.allow_dirs
] as const;
export type ImageFailureReason = (typeof IMAGE_FAILURE_REASONS)[number];

/** One row's image input is unusable: its row fails (dead letter), never a stored vector. */
export class ImageInputError extends ReembedError {
  readonly reason: ImageFailureReason;
  /** A failure that may pass (a timeout, a 5xx, an unreachable host): retried before it is dead-lettered. */
  readonly transient: boolean;
  constructor(reason: ImageFailureReason, message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super('IMAGE_INVALID', `image ${reason}: ${message}`, { exitCode: 1, cause: options.cause, details: { reason } });
    this.reason = reason;
    this.transient = options.transient ?? false;
  }
}

/** A database operation failed; the message names what reembed was doing. */
export class DatabaseError extends ReembedError {
  constructor(message: string, cause?: unknown) {
    super('DATABASE_ERROR', message, { exitCode: 1, cause });
  }
}
