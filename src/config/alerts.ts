import { z } from 'zod';
import { durationSchema } from './duration-schema.js';
import { hasUserInfo } from '../redact.js';
import { GATE_METRICS } from './rollout.js';

/**
 * `alerts:` in reembed.yaml: rules over the gates' metrics (and a few of the backfill's) that
 * tell someone when something drifts, evaluated by the controller and by `reembed watch`.
 */
export const ALERT_METRICS = [
  ...GATE_METRICS,
  /** Changed rows waiting in the capture queue for the profile. */
  'queue.depth',
  /** Rows in the profile's dead-letter table (`reembed failures list`). */
  'backfill.dead_letters',
  /** Rows per second the live workers embed for the profile (no live worker: no data). */
  'backfill.rows_per_second',
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_OPS = ['>', '>=', '<', '<='] as const;
export type AlertOp = (typeof ALERT_OPS)[number];

const webhookUrl = z.url().refine((url) => !hasUserInfo(url), {
  message: 'a webhook URL must not carry credentials (user:password@): they would be stored and printed',
});
const positiveDuration = durationSchema.refine((ms) => ms >= 10, { message: 'must be at least 10ms' });

const ruleSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'a rule name is 1-64 characters of a-z, 0-9, _ . - '),
    metric: z.enum(ALERT_METRICS, {
      error: (issue) => `unknown metric ${JSON.stringify(issue.input)} (expected one of: ${ALERT_METRICS.join(', ')})`,
    }),
    /** Absolute condition: the value `op` `threshold` (e.g. `>` 20). */
    op: z.enum(ALERT_OPS).optional(),
    threshold: z.number().optional(),
    /** Relative condition (offline metrics): the newest run against the median of the 7 days before it. */
    vs_median_7d: z
      .object({ drop: z.number().positive().optional(), rise: z.number().positive().optional() })
      .strict()
      .refine((v) => v.drop !== undefined || v.rise !== undefined, { message: 'needs drop or rise' })
      .optional(),
    /** The condition must hold continuously this long before the alert fires (default 0: at once). */
    for: durationSchema.default(0),
    severity: z.enum(SEVERITIES),
    /** Critical rules only: while firing during an active migration, the controller rolls it back. */
    rollback: z.boolean().default(false),
    /** Online and shadow metrics: the window looked back over (default 5m). */
    window: positiveDuration.default(300_000),
    /** Online and shadow metrics: fewer requests (comparisons) than this in the window is no data. */
    min_samples: z.number().int().positive().default(20),
    /** The profile measured (default: the migration's candidate, else the active profile). */
    profile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const absolute = r.op !== undefined || r.threshold !== undefined;
    if (absolute && (r.op === undefined || r.threshold === undefined))
      ctx.addIssue({ code: 'custom', message: 'op and threshold go together' });
    if (absolute === (r.vs_median_7d !== undefined))
      ctx.addIssue({ code: 'custom', message: 'a rule needs one condition: op and threshold, or vs_median_7d' });
    if (r.vs_median_7d && !r.metric.startsWith('offline.'))
      ctx.addIssue({
        code: 'custom',
        message: 'vs_median_7d compares evaluation runs: it needs an offline.* metric',
      });
    if (r.rollback && r.severity !== 'critical')
      ctx.addIssue({ code: 'custom', message: 'rollback: true is allowed on critical rules only' });
  });

const alertsSchema = z
  .object({
    /** How often `reembed watch` evaluates the rules (the controller evaluates them every tick). */
    interval: positiveDuration.default(60_000),
    /** A still-firing alert is notified again after this long (0: never). */
    repeat_interval: durationSchema.default(4 * 3_600_000),
    timeout: positiveDuration.default(5000),
    webhooks: z
      .array(
        z
          .object({
            url: webhookUrl,
            /** `json`: the event as it is stored; `slack`: `{text}` for a Slack-compatible incoming webhook. */
            format: z.enum(['json', 'slack']).default('json'),
            /** Which severities this receiver gets (default: all). */
            severities: z
              .array(z.enum(SEVERITIES))
              .min(1)
              .default([...SEVERITIES]),
          })
          .strict(),
      )
      .default([]),
    rules: z.array(ruleSchema).default([]),
  })
  .strict();

export type AlertRule = z.output<typeof ruleSchema>;
export interface AlertWebhook {
  url: string;
  format: 'json' | 'slack';
  severities: Severity[];
}

export interface AlertsConfig {
  interval: number;
  repeatInterval: number;
  timeout: number;
  webhooks: AlertWebhook[];
  rules: AlertRule[];
}

/** Validates `alerts:` (problems are pushed with their YAML path). */
export function parseAlerts(raw: unknown, problems: string[], profiles: ReadonlySet<string>): AlertsConfig | undefined {
  const parsed = alertsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    problems.push(...parsed.error.issues.map((i) => `alerts.${i.path.map(String).join('.')}: ${i.message}`));
    return undefined;
  }
  const a = parsed.data;
  const names = new Set<string>();
  for (const [i, rule] of a.rules.entries()) {
    if (names.has(rule.name)) problems.push(`alerts.rules.${i}.name: duplicate rule name ${rule.name}`);
    names.add(rule.name);
    if (rule.profile !== undefined && !profiles.has(rule.profile))
      problems.push(`alerts.rules.${i}.profile: unknown profile ${JSON.stringify(rule.profile)}`);
  }
  return {
    interval: a.interval,
    repeatInterval: a.repeat_interval,
    timeout: a.timeout,
    webhooks: a.webhooks,
    rules: a.rules,
  };
}
