/**
 * The OpenAPI 3.1 document, generated from the schemas the routes validate with: each route is
 * collected by Fastify's onRoute hook as it is registered, so the document cannot drift from
 * what the server accepts. (3.1 takes JSON Schema as it is, `type: [string, null]` included.)
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { VERSION } from '../version.js';
import { errorSchema } from './errors.js';

type Json = Record<string, unknown>;

/** `:id` → `{id}`. */
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parameters(schema: Json | undefined, where: 'path' | 'query'): Json[] {
  const props = (schema?.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema?.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
    ...(s.description ? { description: s.description } : {}),
  }));
}

export class OpenApiCollector {
  private readonly paths: Record<string, Record<string, Json>> = {};

  /** Registers the hook: call before the routes are added. */
  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => this.add(route));
  }

  private add(route: RouteOptions): void {
    const schema = (route.schema ?? {}) as Json;
    if (schema.hide) return;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    const role = (route.config as { role?: string } | undefined)?.role ?? 'public';
    for (const method of methods) {
      const op: Json = {
        summary: schema.summary ?? '',
        tags: schema.tags ?? ['other'],
        parameters: [
          ...parameters(schema.params as Json | undefined, 'path'),
          ...parameters(schema.querystring as Json | undefined, 'query'),
        ],
        responses: {
          '200': { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } },
          '400': { description: 'Bad input', content: { 'application/json': { schema: errorSchema } } },
          ...(role === 'public'
            ? {}
            : {
                '401': { description: 'No token', content: { 'application/json': { schema: errorSchema } } },
                '403': { description: 'Wrong token', content: { 'application/json': { schema: errorSchema } } },
              }),
        },
        ...(role === 'public' ? {} : { security: [{ [role]: [] }] }),
      };
      if (schema.body) op.requestBody = { required: true, content: { 'application/json': { schema: schema.body } } };
      (this.paths[openapiPath(route.url)] ??= {})[method.toLowerCase()] = op;
    }
  }

  document(): Json {
    const bearer = (description: string) => ({ type: 'http', scheme: 'bearer', description });
    return {
      openapi: '3.1.0',
      info: {
        title: 'reembed',
        version: VERSION,
        description: 'Search, writes, status and the migration controls of reembed over HTTP.',
      },
      components: {
        securitySchemes: {
          admin: bearer('REEMBED_ADMIN_TOKEN'),
          api: bearer('REEMBED_API_TOKEN (optional; the admin token is accepted too)'),
          alert: bearer('REEMBED_ALERT_TOKEN'),
        },
        schemas: { Error: errorSchema },
      },
      paths: this.paths,
    };
  }
}
