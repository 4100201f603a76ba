/** For load balancers and scrapers: liveness, readiness, Prometheus text, the OpenAPI document. */
import { redactSecrets } from '../../redact.js';
import type { FastifyInstance } from 'fastify';
import { SCHEMA_VERSION } from '../../reembed.js';
import { VERSION } from '../../version.js';
import type { ServerContext } from '../context.js';
import type { ServerGauges } from '../gauges.js';
import type { OpenApiCollector } from '../openapi.js';

export interface ReadyReport {
  ready: boolean;
  /** Why not (null when ready). */
  reason: string | null;
  activeProfile: string | null;
  schemaVersion: number | null;
  expectedSchemaVersion: number;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Active profile valid by the gating rules, database reachable, schema at this build's version. */
export async function readiness(ctx: ServerContext): Promise<ReadyReport> {
  const report: ReadyReport = {
    ready: false,
    reason: null,
    activeProfile: null,
    schemaVersion: null,
    expectedSchemaVersion: SCHEMA_VERSION,
  };
  try {
    report.activeProfile = ctx.rb.profiles.active().profile;
  } catch (error) {
    return { ...report, reason: redactSecrets(`active profile: ${(error as Error).message}`) };
  }
  try {
    report.schemaVersion = (await within(ctx.rb.schema(), ctx.readyTimeoutMs, 'the database')).schemaVersion;
  } catch (error) {
    // An open route: the message may name a connection string, so it is redacted.
    return { ...report, reason: redactSecrets(`database unreachable: ${(error as Error).message}`) };
  }
  if (report.schemaVersion !== SCHEMA_VERSION)
    return {
      ...report,
      reason: `schema version ${report.schemaVersion}, this build expects ${SCHEMA_VERSION}`,
    };
  return { ...report, ready: true };
}

export function healthRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  gauges: ServerGauges,
  openapi: OpenApiCollector,
): void {
  app.get(
    '/health',
    { schema: { summary: 'The process is alive (nothing else is checked)', tags: ['health'] } },
    async () => ({ status: 'ok', version: VERSION }),
  );

  app.get(
    '/ready',
    {
      schema: {
        summary:
          'Ready to serve: database reachable, schema at the expected version, active profile valid (503 with the reason otherwise)',
        tags: ['health'],
      },
    },
    async (_request, reply) => {
      const report = await readiness(ctx);
      return reply.code(report.ready ? 200 : 503).send(report);
    },
  );

  app.get(
    '/metrics',
    {
      schema: { summary: "Prometheus text: the router's counters and histograms, and status gauges", tags: ['health'] },
    },
    async (request, reply) => {
      const text = await gauges.render((error) => request.log.warn({ err: error }, 'metrics: status unavailable'));
      return reply.header('content-type', gauges.registry.contentType).send(text);
    },
  );

  app.get('/openapi.json', { schema: { summary: 'This document', tags: ['health'] } }, async () => openapi.document());
}
