/**
 * Admin: migration transitions, backfill controls and failures. Every route needs the admin
 * token; the facade records each transition in the audit log with the reason given.
 */
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../reembed.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../errors.js';
import { migrationId } from './status.js';

const expectVersion = {
  type: 'integer',
  minimum: 1,
  description: 'Act only if the migration is still at this version (else 409 MIGRATION_CHANGED)',
} as const;
const force = { type: 'boolean', description: 'Skip the readiness check (needs a reason)' } as const;
const reason = { type: 'string', minLength: 1, maxLength: 2000 } as const;

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, description: 'A migration id, or `current`' } },
  required: ['id'],
} as const;
const profileParams = {
  type: 'object',
  properties: { profile: { type: 'string', minLength: 1 } },
  required: ['profile'],
} as const;

const object = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

interface Target {
  expectVersion?: number;
}
type IdRoute<B> = { Params: { id: string }; Body: B };

export function adminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const rb = ctx.rb;
  const admin = { role: 'admin' as const };
  const target = (id: string, body: Target | undefined) => ({
    id: migrationId(id),
    expectVersion: body?.expectVersion,
  });
  const transition = (summary: string, properties: Record<string, unknown>, required: string[] = []) => ({
    config: admin,
    schema: {
      summary,
      tags: ['admin'],
      params: idParams,
      body: object({ ...properties, expectVersion }, required),
    },
  });

  app.post<{ Body: { to: string; from?: string } }>(
    '/v1/migrations',
    {
      config: admin,
      schema: {
        summary: 'Plan a migration to profile `to` (from the active profile by default): creates its store, estimates',
        tags: ['admin'],
        body: object({ to: { type: 'string', minLength: 1 }, from: { type: 'string', minLength: 1 } }, ['to']),
      },
    },
    async (request, reply) => reply.code(201).send(await rb.migration.plan(request.body.to, request.body.from)),
  );

  const start = transition('Start the backfill of the candidate', {});
  app.post<IdRoute<Target>>('/v1/migrations/:id/start', start, async (r) =>
    rb.migration.start(target(r.params.id, r.body)),
  );

  const shadow = transition(
    'Shadow-read a sample of searches on the candidate',
    {
      sample: { type: 'number', minimum: 0, maximum: 1 },
    },
    ['sample'],
  );
  app.post<IdRoute<Target & { sample: number }>>('/v1/migrations/:id/shadow', shadow, async (r) =>
    rb.migration.shadow(r.body.sample, target(r.params.id, r.body)),
  );

  const ramp = transition(
    'Serve this share of subjects from the candidate (canary)',
    {
      percent: { type: 'integer', minimum: 1, maximum: 100 },
      force,
      reason,
    },
    ['percent'],
  );
  app.post<IdRoute<Target & { percent: number; force?: boolean; reason?: string }>>(
    '/v1/migrations/:id/ramp',
    ramp,
    async (r) =>
      rb.migration.ramp(r.body.percent, { force: r.body.force, reason: r.body.reason }, target(r.params.id, r.body)),
  );

  const cutover = transition('Serve every search from the candidate', { force, reason });
  app.post<IdRoute<Target & { force?: boolean; reason?: string }>>('/v1/migrations/:id/cutover', cutover, async (r) =>
    rb.migration.cutover({ force: r.body?.force, reason: r.body?.reason }, target(r.params.id, r.body)),
  );

  const finalize = transition('Stop dual writes to the control', {});
  app.post<IdRoute<Target>>('/v1/migrations/:id/finalize', finalize, async (r) =>
    rb.migration.finalize(target(r.params.id, r.body)),
  );

  const cleanup = transition(
    'Drop the old store once finalized for at least `olderThan` (e.g. 7d)',
    {
      olderThan: { type: 'string', minLength: 1 },
    },
    ['olderThan'],
  );
  app.post<IdRoute<Target & { olderThan: string }>>('/v1/migrations/:id/cleanup', cleanup, async (r) =>
    rb.migration.cleanup(parseDuration(r.body.olderThan), target(r.params.id, r.body)),
  );

  const rollback = transition(
    'Serve everything from the control again (allowed from every phase)',
    {
      reason,
      force,
    },
    ['reason'],
  );
  app.post<IdRoute<Target & { reason: string; force?: boolean }>>('/v1/migrations/:id/rollback', rollback, async (r) =>
    rb.migration.rollback(r.body.reason, { force: r.body.force, ...target(r.params.id, r.body) }),
  );

  const abort = transition('Abandon the migration', { reason }, ['reason']);
  app.post<IdRoute<Target & { reason: string }>>('/v1/migrations/:id/abort', abort, async (r) =>
    rb.migration.abort(r.body.reason, target(r.params.id, r.body)),
  );

  const control = (summary: string, body?: Record<string, unknown>) => ({
    config: admin,
    schema: { summary, tags: ['admin'], params: profileParams, ...(body ? { body } : {}) },
  });
  app.post<{ Params: { profile: string } }>(
    '/v1/backfill/:profile/pause',
    control('Pause the backfill workers of a profile'),
    async (r) => rb.backfill.pause(r.params.profile),
  );
  app.post<{ Params: { profile: string } }>(
    '/v1/backfill/:profile/resume',
    control('Resume the backfill workers of a profile'),
    async (r) => rb.backfill.resume(r.params.profile),
  );
  app.post<{ Params: { profile: string }; Body: { rpm: number | null } }>(
    '/v1/backfill/:profile/throttle',
    control(
      'Requests per minute for all workers of a profile together (null: no throttle)',
      object({ rpm: { type: ['integer', 'null'], minimum: 1 } }, ['rpm']),
    ),
    async (r) => rb.backfill.throttle(r.params.profile, r.body.rpm),
  );

  app.get(
    '/v1/rerank',
    { config: admin, schema: { summary: "The profiles' rerank stages and their switches", tags: ['admin'] } },
    async () => rb.rerank.status(),
  );
  app.post<{ Params: { state: 'on' | 'off' }; Body: { profile?: string; reason?: string } }>(
    '/v1/rerank/:state',
    {
      config: admin,
      schema: {
        summary:
          "Switch a profile's rerank stage (default: every profile's) on or off on every instance within a second",
        tags: ['admin'],
        params: {
          type: 'object',
          properties: { state: { type: 'string', enum: ['on', 'off'] } },
          required: ['state'],
        },
        body: object({ profile: { type: 'string', minLength: 1 }, reason }),
      },
    },
    async (r) => rb.rerank.set(r.params.state, { profile: r.body?.profile, reason: r.body?.reason }),
  );

  app.get<{ Querystring: { profile?: string; limit?: string } }>(
    '/v1/failures',
    {
      config: admin,
      schema: {
        summary: 'Rows that failed to embed (the dead letters)',
        tags: ['admin'],
        querystring: object({
          profile: { type: 'string', minLength: 1 },
          limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
        }),
      },
    },
    async (r) =>
      rb.failures.list({ profile: r.query.profile, limit: r.query.limit ? Number(r.query.limit) : undefined }),
  );
  const failureBody = object({
    profile: { type: 'string', minLength: 1 },
    ids: { type: 'array', items: { type: 'string' }, maxItems: 10_000 },
  });
  app.post<{ Body: { profile?: string; ids?: string[] } }>(
    '/v1/failures/retry',
    { config: admin, schema: { summary: 'Put failed rows back in the queue', tags: ['admin'], body: failureBody } },
    async (r) => ({ retried: await rb.failures.retry(r.body ?? {}) }),
  );
  app.post<{ Body: { profile?: string; ids?: string[]; all?: boolean } }>(
    '/v1/failures/drop',
    {
      config: admin,
      schema: {
        summary: 'Forget failed rows: a profile, ids, or all: true (an empty body drops nothing)',
        tags: ['admin'],
        body: object({ ...failureBody.properties, all: { type: 'boolean' } }),
      },
    },
    async (r) => {
      const { all, ...which } = r.body ?? {};
      // Forgetting every dead letter is never the default of an empty request.
      if (!all && which.profile === undefined && which.ids === undefined)
        throw new HttpError(400, 'INVALID_REQUEST', 'name a profile, ids, or all: true to drop failed rows');
      return { dropped: await rb.failures.drop(which) };
    },
  );
}
