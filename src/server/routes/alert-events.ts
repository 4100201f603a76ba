/** What the outbound alert rules did: the rules firing now and the newest notifications. */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

export function alertEventRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: { limit?: string; migration?: string } }>(
    '/v1/alerts',
    {
      config: { role: 'api' },
      schema: {
        summary: 'Alert rules firing now and the newest alert notifications with their delivery results',
        tags: ['alerts'],
        querystring: {
          type: 'object',
          properties: {
            limit: {
              type: 'string',
              pattern: '^[1-9][0-9]{0,2}$',
              description: 'At most this many events, 1..999 (default 50)',
            },
            migration: { type: 'string', maxLength: 200, description: "a migration id ('' for none)" },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) =>
      ctx.rb.alerts.history({
        limit: request.query.limit ? Number(request.query.limit) : undefined,
        migration: request.query.migration,
      }),
  );
}
