/** Search and managed-mode writes: what every application instance calls. */
import { ConfigError } from '../../errors.js';
import { HttpError } from '../errors.js';
import type { FastifyInstance } from 'fastify';
import { MAX_K } from '../../reembed.js';
import type { ServerContext } from '../context.js';

const filterSchema = {
  description: 'Only documents whose source column equals the value (the column must exist in the source).',
  type: 'object',
  properties: { column: { type: 'string', minLength: 1 }, value: { type: 'string' } },
  required: ['column', 'value'],
  additionalProperties: false,
} as const;

const searchBody = {
  type: 'object',
  properties: {
    query: { type: 'string', description: 'The query text (the router refuses empty and over-long queries).' },
    k: { type: 'integer', minimum: 1, maximum: MAX_K, default: 10 },
    subject: {
      type: ['string', 'null'],
      description: 'The user, session or tenant whose bucket decides the canary (none: the control).',
    },
    filter: filterSchema,
  },
  required: ['query'],
  additionalProperties: false,
} as const;

interface SearchBody {
  query: string;
  k?: number;
  subject?: string | null;
  filter?: { column: string; value: string };
}

const documentsBody = {
  type: 'object',
  properties: {
    documents: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: {
          id: { type: 'string', minLength: 1 },
          content: { type: 'string' },
          metadata: { type: 'object', additionalProperties: true },
        },
        required: ['id', 'content'],
        additionalProperties: false,
      },
    },
    sync: {
      type: 'boolean',
      default: false,
      description: 'Embed with the serving profile before answering (else the workers embed them).',
    },
  },
  required: ['documents'],
  additionalProperties: false,
} as const;

interface DocumentsBody {
  documents: { id: string; content: string; metadata?: Record<string, unknown> }[];
  sync?: boolean;
}

export function searchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: SearchBody }>(
    '/v1/search',
    {
      config: { role: 'api' },
      schema: {
        summary: 'Search as the serving path does (sticky canary, shadow reads, circuit breaker)',
        tags: ['serving'],
        body: searchBody,
      },
    },
    async (request) => {
      const { query, k, subject, filter } = request.body;
      return serverSide(ctx.rb.search(query, { k, subject, filter }));
    },
  );

  app.put<{ Body: DocumentsBody }>(
    '/v1/documents',
    {
      config: { role: 'api' },
      schema: {
        summary: 'Managed mode: insert or replace documents (capture queues them for every profile)',
        tags: ['serving'],
        body: documentsBody,
      },
    },
    async (request) => serverSide(ctx.rb.upsert(request.body.documents, { sync: request.body.sync })),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/documents/:id',
    {
      config: { role: 'api' },
      schema: {
        summary: 'Managed mode: delete a document from the source and, through capture, from every store',
        tags: ['serving'],
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] },
      },
    },
    async (request) => ({ deleted: await ctx.rb.delete([request.params.id]) }),
  );
}

/**
 * A configuration error raised while serving a valid request (a provider's base_url_env unset,
 * say) is the server's, not the caller's: 500 with its code, so clients retry elsewhere and 5xx
 * alerts fire, instead of a 400 that blames every request.
 */
async function serverSide<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ConfigError) throw new HttpError(500, 'CONFIG_INVALID', error.message);
    throw error;
  }
}
