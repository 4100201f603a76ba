/** What an operator or a dashboard reads: status, the audit history, serving metrics. */
import type { FastifyInstance } from 'fastify';
import { endedEarly, parseDuration, type MetricsReport } from '../../reembed.js';
import type { ServerContext } from '../context.js';

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, description: 'A migration id, or `current` for the newest' } },
  required: ['id'],
} as const;

/** `current` names the source's newest migration. */
export const migrationId = (id: string): string | undefined => (id === 'current' ? undefined : id);

export function statusRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/v1/status',
    {
      config: { role: 'api' },
      schema: {
        summary:
          'Per profile: coverage, queue, failures, workers, rate, index; the active migration with phase, percent, gates and controller lease; circuit breakers',
        tags: ['status'],
      },
    },
    async () => {
      const status = await ctx.rb.status();
      const migration = await ctx.rb.migration.statusReport();
      const m = migration.migration;
      const candidates = m && !endedEarly(m.phase) ? [m.candidate] : [];
      // The manifest's steps: the dashboard's track and its ramp button follow them.
      const rollout = { steps: ctx.rb.manifest.rollout.steps };
      return { ...status, migration, rollout, breakers: await ctx.breakers.report(candidates) };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { measurements?: 'true' | 'false' } }>(
    '/v1/migrations/:id/history',
    {
      config: { role: 'api' },
      schema: {
        summary: "A migration's audit log (who, when, from, to, why) and the controller's decisions",
        tags: ['status'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: { measurements: { type: 'string', enum: ['true', 'false'] } },
          additionalProperties: false,
        },
      },
    },
    async (request) =>
      ctx.rb.migration.historyReport(migrationId(request.params.id), {
        measurements: request.query.measurements === 'true',
      }),
  );

  app.get<{ Querystring: { since?: string; profile?: string } }>(
    '/v1/metrics/serving',
    {
      config: { role: 'api' },
      schema: {
        summary: 'Serving metrics of every instance per profile (requests, errors, latency, shadow agreement)',
        tags: ['status'],
        querystring: {
          type: 'object',
          properties: {
            since: { type: 'string', minLength: 1, description: 'A duration such as 15m, 1h, 7d' },
            profile: { type: 'string', minLength: 1 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) =>
      ctx.rb.metrics.show({
        since: request.query.since ?? '1h',
        profiles: request.query.profile ? [request.query.profile] : undefined,
      }),
  );

  app.get<{ Querystring: { since?: string; points?: string } }>(
    '/v1/metrics/serving/series',
    {
      config: { role: 'api' },
      schema: {
        summary:
          'Serving metrics per profile in equal time buckets over the last `since` (what the dashboard charts), with the totals',
        tags: ['status'],
        querystring: {
          type: 'object',
          properties: {
            since: { type: 'string', minLength: 1, description: 'A duration such as 15m, 1h, 7d (default 1h)' },
            points: { type: 'string', pattern: '^([2-9]|[1-5][0-9]|60)$', description: 'Buckets, 2..60 (default 30)' },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const sinceMs = parseDuration(request.query.since ?? '1h');
      const points = Number(request.query.points ?? 30);
      // One anchor on the database's clock: the buckets partition (from, now] exactly.
      const total = await ctx.rb.metrics.show({ since: sinceMs });
      const from = new Date(total.since).getTime();
      const step = sinceMs / points;
      const profiles = total.profiles.map((p) => p.profile);
      const series: { from: string; to: string | null; profiles: MetricsReport['profiles'] }[] = [];
      for (let i = 0; i < points; i++) {
        const since = new Date(from + i * step);
        // The last bucket runs to now, so nothing written since the anchor is lost.
        const until = i === points - 1 ? undefined : new Date(from + (i + 1) * step);
        const bucket = profiles.length ? await ctx.rb.metrics.show({ since, until, profiles }) : { profiles: [] };
        series.push({ from: since.toISOString(), to: until?.toISOString() ?? null, profiles: bucket.profiles });
      }
      return { since: total.since, stepMs: step, total: total.profiles, series };
    },
  );
}
