/**
 * The HTTP server: a Fastify app over one opened `Reembed` facade. Routes validate their input
 * with JSON schemas (which also make /openapi.json), check the caller's token by the route's
 * role, and answer errors as `{error: {code, message}}`. One log line per request.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { logger as rootLogger } from '../logger.js';
import type { Reembed } from '../reembed.js';
import { authorize, refuseCrossSite, type Tokens } from './auth.js';
import { BreakerTracker } from './breakers.js';
import type { ServerContext } from './context.js';
import { handleError, HttpError } from './errors.js';
import { ServerGauges } from './gauges.js';
import { OpenApiCollector } from './openapi.js';
import { adminRoutes } from './routes/admin.js';
import { alertRoutes } from './routes/alerts.js';
import { alertEventRoutes } from './routes/alert-events.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { healthRoutes } from './routes/health.js';
import { searchRoutes } from './routes/search.js';
import { statusRoutes } from './routes/status.js';

import { DEFAULT_BODY_LIMIT } from './defaults.js';

export { DEFAULT_BODY_LIMIT };

export interface ServerOptions {
  tokens?: Tokens;
  /** Admin routes without a token: for a loopback-only development server (serve refuses it elsewhere). */
  openAdmin?: boolean;
  /**
   * The server listens on loopback only (serve sets it from --host): requests must name a
   * loopback Host, which shuts out DNS rebinding. Off by default for an app that listens itself.
   */
  loopbackOnly?: boolean;
  /** Largest request body in bytes (default 4 MiB): larger ones get 413. */
  bodyLimit?: number;
  /** Alert severities that roll the migration back (default: the manifest's rollout.alert_rollback_severities). */
  rollbackSeverities?: string[];
  readyTimeoutMs?: number;
  /** Where request lines go (default: reembed's logger). */
  logger?: Logger;
}

export interface ReembedServer {
  app: FastifyInstance;
  context: ServerContext;
}

export async function buildServer(rb: Reembed, options: ServerOptions = {}): Promise<ReembedServer> {
  const log = (options.logger ?? rootLogger).child({ component: 'server' });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One line per request, written in onResponse below (Fastify's default is two).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Keep-alive connections that are idle are closed at shutdown; busy ones finish first.
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  const breakers = new BreakerTracker(rb);
  const context: ServerContext = {
    rb,
    tokens: options.tokens ?? {},
    openAdmin: Boolean(options.openAdmin),
    loopbackOnly: Boolean(options.loopbackOnly),
    breakers,
    rollbackSeverities: (options.rollbackSeverities ?? rb.manifest.rollout.alertRollbackSeverities).map((s) =>
      s.toLowerCase(),
    ),
    readyTimeoutMs: options.readyTimeoutMs ?? 3000,
  };
  const gauges = new ServerGauges(rb, breakers);
  const openapi = new OpenApiCollector();
  openapi.attach(app);

  // An empty body is no body (a POST with `content-type: application/json` and nothing else, as
  // curl and fetch send for an action without arguments); anything else goes through Fastify's
  // own JSON parser, with its guard against prototype poisoning.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === '' ? done(null, undefined) : json(request, String(body), done),
  );
  // Actions whose arguments are all optional may be sent without a body.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && (request.method === 'POST' || request.method === 'PUT')) request.body = {};
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    handleError(
      new HttpError(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
      request,
      reply,
    ),
  );
  app.addHook('onRequest', async (request) => {
    refuseCrossSite(request, context.loopbackOnly);
    authorize(request, request.routeOptions.config.role ?? 'public', context.tokens, context.openAdmin);
  });
  app.addHook('onResponse', async (request, reply) => {
    // No headers: the Authorization header never reaches a log line.
    request.log.info(
      {
        method: request.method,
        url: request.url,
        route: request.routeOptions.url,
        status: reply.statusCode,
        ms: Number(reply.elapsedTime.toFixed(1)),
      },
      'request',
    );
  });

  healthRoutes(app, context, gauges, openapi);
  searchRoutes(app, context);
  statusRoutes(app, context);
  adminRoutes(app, context);
  alertRoutes(app, context);
  alertEventRoutes(app, context);
  dashboardRoutes(app);
  breakers.start();
  app.addHook('onClose', async () => breakers.stop());
  await app.ready();
  return { app, context };
}
