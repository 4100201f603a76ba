/** The dashboard at `/` and its assets; uPlot is read from node_modules at start, no build step. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_HTML } from '../dashboard/page.js';
import { DASHBOARD_JS } from '../dashboard/script.js';

const require = createRequire(import.meta.url);
const vendored = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');

export function dashboardRoutes(app: FastifyInstance): void {
  const assets: Record<string, { type: string; body: string }> = {
    'uplot.iife.min.js': { type: 'text/javascript; charset=utf-8', body: vendored('uPlot.iife.min.js') },
    'uplot.min.css': { type: 'text/css; charset=utf-8', body: vendored('uPlot.min.css') },
    'dashboard.js': { type: 'text/javascript; charset=utf-8', body: DASHBOARD_JS },
  };
  const hide = { hide: true };
  app.get('/', { schema: hide }, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      // Nothing outside this server: scripts, styles and requests stay on this origin.
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
      )
      .send(DASHBOARD_HTML),
  );
  app.get<{ Params: { file: string } }>('/assets/:file', { schema: hide }, async (request, reply) => {
    const asset = assets[request.params.file];
    if (!asset) return reply.callNotFound();
    return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
  });
}
