import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { redactSecrets } from './redact.js';

/**
 * reembed's one structured log: a JSON object per line on stderr, so it never mixes with a
 * command's result on stdout. The CLI's human text and progress bars are not log lines and
 * are unchanged by it. It is a shared module at the bottom of the layers (DESIGN.md), so
 * every layer can say what went wrong instead of swallowing it.
 *
 * Level: setLogLevel() (the CLI's --log-level), else REEMBED_LOG_LEVEL, else warn.
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'warn';
export const LOG_LEVEL_ENV = 'REEMBED_LOG_LEVEL';

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

const fromEnv = process.env[LOG_LEVEL_ENV]?.trim().toLowerCase();

let level: LogLevel = isLogLevel(fromEnv) ? fromEnv : DEFAULT_LOG_LEVEL;
let instance: Logger | undefined;

/** The pino logger, made on the first line logged: a command that logs nothing never loads pino. */
function pinoLogger(): Logger {
  if (!instance) {
    const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
    // Synchronous writes: a CLI that exits right after a warning still prints it.
    instance = pino(
      {
        name: 'reembed',
        level,
        // Errors carry connection strings and URLs: no password or token reaches a log line.
        hooks: { streamWrite: (line: string) => redactSecrets(line) },
      },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  return instance;
}

/**
 * reembed's logger: a pino Logger in every respect, created on first use. pino is CommonJS, so
 * require() returns the same module an import would.
 */
export const logger: Logger = new Proxy({} as Logger, {
  get(_target, property) {
    const real = pinoLogger();
    const value: unknown = Reflect.get(real, property, real);
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(real) : value;
  },
  set(_target, property, value) {
    return Reflect.set(pinoLogger(), property, value);
  },
});

if (fromEnv && !isLogLevel(fromEnv)) {
  logger.warn(
    { [LOG_LEVEL_ENV]: process.env[LOG_LEVEL_ENV] },
    `${LOG_LEVEL_ENV} is not one of ${LOG_LEVELS.join(', ')}; logging at ${DEFAULT_LOG_LEVEL}`,
  );
}

export function setLogLevel(next: LogLevel): void {
  level = next;
  if (instance) instance.level = next;
}

/**
 * A rejection handler for work whose failure must not stop what called it (a cleanup after
 * another error, a background timer, a best-effort unlock): the failure is logged at warn
 * with what was being done and its context, and the caller goes on.
 *
 *     await releaseLeases(db, id).catch(warnAndContinue('giving back the worker leases', { worker: id }));
 */
export function warnAndContinue(doing: string, context: Record<string, unknown> = {}): (error: unknown) => void {
  return (error) => logger.warn({ ...context, err: error }, `${doing} failed`);
}
