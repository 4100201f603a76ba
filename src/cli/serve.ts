import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { LOG_LEVEL_ENV, setLogLevel } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_HOST, DEFAULT_PORT } from '../server/defaults.js';
import { parseDuration } from '../facade/shell.js';
import { CliContext } from './context.js';
import { positiveInt, wholeNumber } from './options.js';

interface ServeOptions {
  host: string;
  port: number;
  controller?: boolean;
  openAdmin?: boolean;
  anonymousApi?: boolean;
  bodyLimit: number;
  grace: string;
  rollbackSeverity?: string[];
  logLevel?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .summary('serve search, writes, status, migration controls, /metrics and a dashboard over HTTP')
    .description(
      'An HTTP service over the same operations as the CLI: POST /v1/search, PUT /v1/documents, GET /v1/status, ' +
        'the migration transitions, backfill and failure controls, /health, /ready, /metrics (Prometheus), ' +
        '/openapi.json and a live dashboard at /. Admin routes need REEMBED_ADMIN_TOKEN (without it they answer 403); ' +
        'REEMBED_API_TOKEN, when set, protects search, writes and status; REEMBED_ALERT_TOKEN enables POST /v1/alerts. ' +
        'Request logs are JSON lines on stderr (level info unless --log-level or REEMBED_LOG_LEVEL says otherwise). ' +
        'SIGTERM/SIGINT stop accepting, let requests finish (up to --grace) and close.',
    )
    .option('--host <address>', 'address to bind', DEFAULT_HOST)
    .option('--port <n>', 'port to bind (0: any free port)', wholeNumber, DEFAULT_PORT)
    .option('--controller', 'run the rollout controller in this process (the manifest’s rollout: gates and steps)')
    .option('--open-admin', 'admin routes without a token (refused unless the host is loopback)')
    .option(
      '--anonymous-api',
      'search and writes without REEMBED_API_TOKEN on a non-loopback host (refused otherwise: anyone who reaches it could delete documents)',
    )
    .option('--body-limit <bytes>', 'largest request body', positiveInt, DEFAULT_BODY_LIMIT)
    .option('--grace <duration>', 'how long in-flight requests may take at shutdown', '10s')
    .option(
      '--rollback-severity <severity...>',
      'alert severities that roll the active migration back (POST /v1/alerts; default: rollout.alert_rollback_severities, else critical)',
    )
    .action(async (opts: ServeOptions, command: Command) => {
      const ctx = new CliContext(command);
      const global = command.optsWithGlobals<{ logLevel?: string }>();
      if (!global.logLevel && !process.env[LOG_LEVEL_ENV]) setLogLevel('info');
      // Fastify and the server load when the command runs, not for --help.
      const { buildServer, checkBind, isLoopback, onShutdownSignal, runControllerLoop, shutdown, tokensFromEnv } =
        await import('../server/serve.js');
      const graceMs = parseDuration(opts.grace);
      const tokens = tokensFromEnv(process.env);
      const refused = checkBind(opts.host, tokens, Boolean(opts.openAdmin), Boolean(opts.anonymousApi));
      if (refused) throw new ConfigError(refused);
      const rb = await ctx.open({ actor: 'http', router: { lazy: true } });
      // Open the database (bringing the schema up to date) before listening, so /ready is quick;
      // a database down now is reported by /ready and retried by the first request that needs it.
      await rb.schema().catch((error: unknown) => ctx.info(`serve: database not ready: ${(error as Error).message}`));
      let server;
      try {
        server = await buildServer(rb, {
          tokens,
          openAdmin: opts.openAdmin,
          loopbackOnly: isLoopback(opts.host),
          bodyLimit: opts.bodyLimit,
          rollbackSeverities: opts.rollbackSeverity,
        });
        await server.app.listen({ host: opts.host, port: opts.port });
      } catch (error) {
        await server?.app.close();
        await rb.close();
        throw error;
      }
      const address = server.app.server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
      const admin = tokens.admin ? 'token' : opts.openAdmin ? 'open (loopback)' : 'disabled (set REEMBED_ADMIN_TOKEN)';
      ctx.info(
        `serve: listening on ${url} · database ${redactSecrets(rb.databaseTarget)} · admin routes ${admin} · ` +
          `api token ${tokens.api ? 'on' : 'off'} · alerts ${tokens.alert ? 'on' : 'off'}`,
      );
      if (ctx.json) process.stdout.write(`${JSON.stringify({ listening: url })}\n`);
      const stopController = new AbortController();
      const controller = opts.controller ? runControllerLoop(rb, { signal: stopController.signal }) : Promise.resolve();
      await new Promise<void>((resolve) => {
        const dispose = onShutdownSignal((signal) => {
          ctx.info(`serve: ${signal}: no new requests; finishing those in flight (up to ${opts.grace})`);
          dispose();
          resolve();
        });
      });
      stopController.abort();
      await controller;
      await shutdown(server.app, rb, graceMs);
      ctx.info('serve: stopped');
    });
}
