/**
 * The inbound alert webhook: a monitoring system pulls the emergency brake. Takes Prometheus
 * Alertmanager's webhook payload or a simple `{type, severity, value, threshold}` body; a
 * firing alert of a rollback severity (default `critical`) rolls the newest migration back,
 * naming the alert in the audit reason. Repeated deliveries are idempotent: a migration that has
 * already ended is left alone, and each alert (by fingerprint or name and start) acts once.
 */
import type { FastifyInstance } from 'fastify';
import { ReembedError } from '../../errors.js';
import type { MigrationState } from '../../reembed.js';
import type { ServerContext } from '../context.js';

interface Alert {
  name: string;
  severity: string;
  firing: boolean;
  /** What makes a redelivery the same alert. */
  key: string;
  summary: string;
  /** When the alert began firing (Alertmanager's startsAt), when known. */
  startsAt: number | null;
}

interface AlertmanagerAlert {
  status?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  fingerprint?: string;
}

interface AlertBody {
  alerts?: AlertmanagerAlert[];
  status?: string;
  type?: string;
  severity?: string;
  value?: number;
  threshold?: number;
}

export type AlertAction = 'rolled_back' | 'ignored' | 'already_handled' | 'no_active_migration' | 'predates_migration';

/** Phases where there is nothing left to roll back (ended, or finalized: the control's store is no longer written). */
const SETTLED = new Set(['rolled_back', 'aborted', 'cleaned', 'finalized']);

function alertsOf(body: AlertBody): Alert[] {
  if (Array.isArray(body.alerts)) {
    return body.alerts.map((a) => {
      const name = a.labels?.alertname ?? 'unnamed';
      const summary = a.annotations?.summary ?? a.annotations?.description ?? '';
      return {
        name,
        severity: (a.labels?.severity ?? '').toLowerCase(),
        firing: (a.status ?? body.status ?? 'firing') === 'firing',
        key: a.fingerprint ? `${a.fingerprint}@${a.startsAt ?? ''}` : `${name}@${a.startsAt ?? ''}`,
        summary,
        startsAt: a.startsAt && !Number.isNaN(Date.parse(a.startsAt)) ? Date.parse(a.startsAt) : null,
      };
    });
  }
  const name = body.type!;
  const measured =
    body.value !== undefined
      ? `value ${body.value}${body.threshold !== undefined ? ` over threshold ${body.threshold}` : ''}`
      : '';
  return [
    {
      name,
      severity: body.severity!.toLowerCase(),
      firing: (body.status ?? 'firing') === 'firing',
      key: `${name}:${body.severity}:${body.value ?? ''}:${body.threshold ?? ''}`,
      summary: measured,
      startsAt: null,
    },
  ];
}

const alertmanagerAlert = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['firing', 'resolved'] },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    startsAt: { type: 'string' },
    endsAt: { type: 'string' },
    fingerprint: { type: 'string' },
  },
} as const;

const alertBody = {
  description: "Prometheus Alertmanager's webhook payload, or `{type, severity, value, threshold}`",
  oneOf: [
    {
      type: 'object',
      properties: { alerts: { type: 'array', items: alertmanagerAlert, maxItems: 1000 } },
      required: ['alerts'],
    },
    {
      type: 'object',
      properties: {
        type: { type: 'string', minLength: 1, maxLength: 200 },
        severity: { type: 'string', minLength: 1, maxLength: 50 },
        value: { type: 'number' },
        threshold: { type: 'number' },
        status: { type: 'string', enum: ['firing', 'resolved'] },
      },
      required: ['type', 'severity'],
      additionalProperties: false,
    },
  ],
} as const;

export function alertRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const handled = new Set<string>();
  app.post<{ Body: AlertBody }>(
    '/v1/alerts',
    {
      config: { role: 'alert' },
      schema: {
        summary: 'Inbound alerts: a firing alert of a rollback severity rolls the newest migration back',
        tags: ['alerts'],
        body: alertBody,
      },
    },
    async (request) => {
      /** What one alert does: nothing, or a rollback of the newest migration (once). */
      const actOn = async (alert: Alert): Promise<{ action: AlertAction; migration: string | null }> => {
        if (!alert.firing || !ctx.rollbackSeverities.includes(alert.severity))
          return { action: 'ignored', migration: null };
        const m = await ctx.rb.migration.status();
        // An alert acts once, whatever migration is current when it is delivered again:
        // Alertmanager re-sends a firing alert every repeat_interval, and a redelivery must not
        // roll back the next (healthy) migration an operator started meanwhile.
        if (handled.has(alert.key)) return { action: 'already_handled', migration: m?.id ?? null };
        if (!m || SETTLED.has(m.phase)) return { action: 'no_active_migration', migration: m?.id ?? null };
        // Firing since before this migration existed: it is about something else (a process
        // restarted since, or another replica, acted on it or not; this migration is not its cause).
        if (alert.startsAt !== null && alert.startsAt < Date.parse(m.createdAt))
          return { action: 'predates_migration', migration: m.id };
        const reason = `alert ${alert.name} (${alert.severity}) firing${alert.summary ? `: ${alert.summary}` : ''}`;
        let after: MigrationState;
        try {
          after = await ctx.rb.migration.rollback(reason, { id: m.id, expectVersion: m.version });
        } catch (error) {
          // A delivery racing this one (or a person) changed it first: settled now means handled.
          if (!(error instanceof ReembedError) || error.code !== 'MIGRATION_CHANGED') throw error;
          const now = await ctx.rb.migration.status(m.id);
          if (!now || !SETTLED.has(now.phase)) throw error;
          handled.add(alert.key);
          return { action: 'already_handled', migration: m.id };
        }
        handled.add(alert.key);
        request.log.warn(
          { migration: m.id, alert: alert.name, severity: alert.severity },
          'alert rolled the migration back',
        );
        return { action: 'rolled_back', migration: after.id };
      };
      const results: { alert: string; severity: string; action: AlertAction; migration: string | null }[] = [];
      for (const alert of alertsOf(request.body))
        results.push({ alert: alert.name, severity: alert.severity, ...(await actOn(alert)) });
      return { received: results.length, results };
    },
  );
}
