import { Command, CommanderError, Option } from 'commander';
import { ReembedError } from '../errors.js';
import { redactSecrets } from '../redact.js';
import { printable } from './format.js';
import { LOG_LEVEL_ENV, LOG_LEVELS, setLogLevel, type LogLevel } from '../logger.js';
import { VERSION } from '../version.js';
import { registerBackfill } from './backfill.js';
import { registerDemo } from './demo.js';
import { registerEval } from './eval.js';
import { registerDetach } from './detach.js';
import { registerFailures } from './failures.js';
import { registerStatus } from './status.js';
import { registerWorker } from './worker.js';
import { registerEmbed } from './embed.js';
import { registerInit } from './init.js';
import { registerMigrate } from './migrate.js';
import { registerController } from './controller.js';
import { registerWatch } from './watch.js';
import { registerSearch } from './search.js';
import { registerProfiles } from './profiles.js';
import { registerLoad } from './load.js';
import { registerVerify } from './verify.js';
import { registerTune } from './tune.js';
import { registerMetrics } from './metrics.js';
import { registerServe } from './serve.js';
import { registerRerank } from './rerank.js';

export function buildProgram(): Command {
  const program = new Command('reembed')
    .description(
      'Move a live pgvector search system from one embedding model to another with zero downtime.\n\n' +
        'Database: --db, else REEMBED_DATABASE_URL, else `database:` in reembed.yaml, else ./.reembed\n' +
        '(a directory means the embedded PGlite database; postgres://… means a server).\n' +
        'Environment: REEMBED_ENV, else ENV, else NODE_ENV, else development.\n' +
        'Exit codes: 0 ok, 1 a check or operation failed, 2 usage or configuration error.',
    )
    .version(VERSION)
    .option('-c, --config <file>', 'manifest file (default: reembed.yaml in the working directory)')
    .option('--db <target>', 'database: a directory (embedded) or postgres://… (server)')
    .option('--json', 'print the result as JSON on stdout (human text and progress go to stderr)')
    .addOption(new Option('-q, --quiet', 'no progress or information on stderr'))
    .addOption(
      new Option(
        '--log-level <level>',
        `level of the JSON log lines on stderr (default: ${LOG_LEVEL_ENV}, else warn)`,
      ).choices(LOG_LEVELS),
    )
    .hook('preAction', (_program, action) => {
      const { logLevel } = action.optsWithGlobals<{ logLevel?: LogLevel }>();
      if (logLevel) setLogLevel(logLevel);
    })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerInit(program);
  registerProfiles(program);
  registerEmbed(program);
  registerDemo(program);
  registerBackfill(program);
  registerWorker(program);
  registerFailures(program);
  registerStatus(program);
  registerDetach(program);
  registerMigrate(program);
  registerController(program);
  registerWatch(program);
  registerMetrics(program);
  registerSearch(program);
  registerLoad(program);
  registerVerify(program);
  registerEval(program);
  registerTune(program);
  registerServe(program);
  registerRerank(program);
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

/** Runs the CLI and returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    const json = program.opts<{ json?: boolean }>().json || argv.includes('--json');
    if (error instanceof ReembedError) {
      const message = redactSecrets(error.message);
      if (json) {
        const details = error.details ? JSON.parse(redactSecrets(JSON.stringify(error.details))) : undefined;
        process.stdout.write(
          `${JSON.stringify({ error: { code: error.code, message, ...(details ? { details } : {}) } }, null, 2)}\n`,
        );
      }
      process.stderr.write(`reembed: ${printable(message)}\n`);
      return error.exitCode;
    }
    const text = redactSecrets((error as Error)?.stack ?? String(error));
    if (json) {
      const message = redactSecrets((error as Error)?.message ?? String(error));
      process.stdout.write(`${JSON.stringify({ error: { code: 'UNEXPECTED', message } }, null, 2)}\n`);
    }
    process.stderr.write(`reembed: unexpected error: ${printable(text)}\n`);
    return 1;
  }
}
