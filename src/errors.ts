/**
 * Typed errors. Every error reembed raises on purpose is a ReembedError with a stable `code`
 * and the process exit code the CLI uses for it (2: usage or configuration, 1: a failed
 * check or operation).
 */
export class ReembedError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly details?: Record<string, unknown>;

  constructor(
    code: string,
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

/** A database operation failed; the message names what reembed was doing. */
export class DatabaseError extends ReembedError {
  constructor(message: string, cause?: unknown) {
    super('DATABASE_ERROR', message, { exitCode: 1, cause });
  }
}
