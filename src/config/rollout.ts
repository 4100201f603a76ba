import { z } from 'zod';
import { durationSchema } from './duration-schema.js';
import { hasUserInfo } from '../redact.js';

/**
 * What a gate can measure. The prefix names where the number comes from:
 * - `coverage`, `verify.failed_checks`, `ann.overlap`: the candidate's store, counted in SQL;
 * - `offline.*`: the newest `reembed eval` history entry that evaluated both profiles;
 * - `online.*`: what the routers recorded into the database over the gate's window;
 * - `shadow.*`: shadow comparisons the routers recorded over the window;
 * - `jit.*`: just-in-time requests (searches that queued documents the candidate lacked) the
 *   workers completed over the gate's interval (backfill/jit.ts).
 */
export const GATE_METRICS = [
  'coverage',
  'verify.failed_checks',
  'ann.overlap',
  'offline.recall@1',
  'offline.recall@5',
  'offline.recall@10',
  'offline.recall@50',
  'offline.mrr@10',
  'offline.ndcg@10',
  'offline.contain@50',
  'online.requests',
  'online.error_rate',
  'online.fallback_rate',
  'online.latency_p50_ms',
  'online.latency_p95_ms',
  'online.latency_p99_ms',
  'online.latency_mean_ms',
  'online.breaker_opens',
  'online.cache_hit_rate',
  'online.top1_score',
  'online.top5_pairwise_cosine',
  'online.rerank_acceptance',
  'online.rerank_latency_p95_ms',
  'shadow.overlap',
  'shadow.rbo',
  'jit.items_per_minute',
  'jit.time_to_embed_p95_ms',
] as const;
export type GateMetric = (typeof GATE_METRICS)[number];

const duration = durationSchema;

const positiveInt = z.number().int().positive();
/** Credentials in a URL would be stored in the audit log and printed: put them in a path token or a header-less secret URL. */
const webhookUrl = z.url().refine((url) => !hasUserInfo(url), {
  message: 'a webhook URL must not carry credentials (user:password@): they would be stored and printed',
});
/** A duration that must not be zero (an interval of 0 would make the controller spin). */
const positiveDuration = duration.refine((ms) => ms >= 10, { message: 'must be at least 10ms' });

export const gateSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'a gate name is 1-64 characters of a-z, 0-9, _ . - '),
    metric: z.enum(GATE_METRICS, {
      error: (issue) => `unknown metric ${JSON.stringify(issue.input)} (expected one of: ${GATE_METRICS.join(', ')})`,
    }),
    /** Absolute bounds on the candidate's value. */
    min: z.number().optional(),
    max: z.number().optional(),
    /** Bounds relative to the control's value over the same window. */
    max_increase: z.number().nonnegative().optional(),
    max_decrease: z.number().nonnegative().optional(),
    max_ratio: z.number().positive().optional(),
    min_ratio: z.number().positive().optional(),
    /** How often the gate is measured (default: rollout.interval); online gates look back this far. */
    interval: positiveDuration.optional(),
    /** Roll back once the gate has failed this many times in the migration (absent: never). */
    failure_limit: positiveInt.optional(),
    /** Roll back once the gate has failed this many times in a row (absent: never). */
    consecutive_limit: positiveInt.optional(),
    /** What a measurement without data means: hold the rollout (never pass), or count as a failure. */
    no_data: z.enum(['hold', 'fail']).default('hold'),
    /** Online and shadow gates: fewer requests (or comparisons) than this in a window is no data. */
    min_samples: positiveInt.default(20),
    /** Tell the alert webhooks when the gate holds the rollout (no data or a failure) or fails. */
    notify_on: z
      .array(z.enum(['hold', 'fail']))
      .default([])
      .refine((x) => new Set(x).size === x.length, { message: 'each of hold, fail at most once' }),
  })
  .strict()
  .refine(
    (g) =>
      [g.min, g.max, g.max_increase, g.max_decrease, g.max_ratio, g.min_ratio].some((bound) => bound !== undefined),
    { message: 'a gate needs a condition: min, max, max_increase, max_decrease, max_ratio or min_ratio' },
  );

export type GateInput = z.input<typeof gateSchema>;
export type Gate = Omit<z.output<typeof gateSchema>, 'interval'> & { interval: number };

/**
 * The runbooks' gates. Store checks (coverage, verify, ANN agreement) and the offline
 * evaluation only hold a rollout: coverage dips for a moment whenever the source changes, and
 * the next backfill pass restores it. Online gates roll back.
 */
export const DEFAULT_GATES: GateInput[] = [
  { name: 'coverage', metric: 'coverage', min: 1 },
  { name: 'verify', metric: 'verify.failed_checks', max: 0, interval: '5m' },
  { name: 'ann-agreement', metric: 'ann.overlap', min: 0.95, interval: '10m' },
  { name: 'offline-recall5', metric: 'offline.recall@5', max_decrease: 0.02 },
  {
    name: 'error-rate',
    metric: 'online.error_rate',
    max_increase: 0.002,
    failure_limit: 3,
    consecutive_limit: 2,
  },
  {
    name: 'latency-p95',
    metric: 'online.latency_p95_ms',
    max_ratio: 1.15,
    max: 500,
    failure_limit: 3,
    consecutive_limit: 2,
  },
  { name: 'breaker-trips', metric: 'online.breaker_opens', max: 0, min_samples: 1, failure_limit: 1 },
];

/** Subjects by value (Unleash's IN) and by prefix (STR_STARTS_WITH). */
const subjectRule = {
  subjects: z.array(z.string().min(1)).default([]),
  prefixes: z.array(z.string().min(1)).default([]),
};
const nonEmptyRule = (r: { subjects: string[]; prefixes: string[] }) => r.subjects.length + r.prefixes.length > 0;

export const rolloutSchema = z
  .object({
    /** Percentages the candidate serves, in order; the last is 100 (cutover). */
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .default([5, 25, 50, 100])
      .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!), { message: 'steps must increase' })
      .refine((s) => s[s.length - 1] === 100, { message: 'the last step must be 100' }),
    /** How often gates are evaluated (each gate may measure less often). */
    interval: positiveDuration.default(60_000),
    /** A step lasts at least this long before promotion. */
    step_min_duration: duration.default(600_000),
    /** The candidate serves at least this many requests in a step before promotion. */
    step_min_requests: z.number().int().nonnegative().default(100),
    /** Where `reembed eval` appended its history (offline gates read it). */
    eval_history: z.string().min(1).default('.reembed/eval-history.jsonl'),
    /** Sampled queries of the ANN agreement gate. */
    ann_queries: positiveInt.default(50),
    /**
     * Readiness by lag: a row that is not current still counts as covered while its queued
     * change is younger than this (the application keeps writing; workers catch up).
     */
    max_queue_lag: duration.default(30_000),
    /** Counted coverage a candidate needs before it serves, changes in flight or not. */
    min_coverage: z.number().min(0).max(1).default(0.999),
    /** Share of searches shadowed when the controller moves a finished backfill to shadow. */
    shadow_sample: z.number().min(0).max(1).default(0.1),
    webhooks: z
      .object({
        /** POSTed before each promotion; a non-2xx answer holds the rollout. */
        before_promotion: webhookUrl.optional(),
        /** POSTed after the controller rolled back. */
        on_rollback: webhookUrl.optional(),
        timeout: positiveDuration.default(5000),
      })
      .strict()
      .default({ timeout: 5000 }),
    /** Severities of inbound alerts (`POST /v1/alerts` of `reembed serve`) that roll the migration back. */
    alert_rollback_severities: z.array(z.string().trim().min(1)).min(1).default(['critical']),
    gates: z.array(z.unknown()).optional(),
    /** Named groups that can get the candidate before the percentage (`migrate ramp --segment NAME`). */
    segments: z
      .array(
        z
          .object({ name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'), ...subjectRule })
          .strict()
          .refine(nonEmptyRule, { message: 'a segment needs subjects or prefixes' }),
      )
      .default([])
      .refine((s) => new Set(s.map((x) => x.name)).size === s.length, { message: 'segment names must be unique' }),
    /** Subjects that never get the candidate while in canary. */
    deny: z
      .object(subjectRule)
      .strict()
      .refine(nonEmptyRule, { message: 'deny needs subjects or prefixes' })
      .optional(),
  })
  .strict();

export interface RolloutConfig {
  steps: number[];
  interval: number;
  stepMinDuration: number;
  stepMinRequests: number;
  evalHistory: string;
  annQueries: number;
  shadowSample: number;
  maxQueueLag: number;
  minCoverage: number;
  webhooks: { beforePromotion?: string; onRollback?: string; timeout: number };
  /** Severities of inbound alerts that roll the migration back (lower case). */
  alertRollbackSeverities: string[];
  gates: Gate[];
  /** True when the manifest lists no gates and the runbook defaults apply. */
  defaultGates: boolean;
  segments: Array<{ name: string; subjects: string[]; prefixes: string[] }>;
  deny: { subjects: string[]; prefixes: string[] } | null;
}

/** Validates `rollout:` (problems are pushed with their YAML path); gates default to the runbooks'. */
export function parseRollout(raw: unknown, problems: string[]): RolloutConfig | undefined {
  const parsed = rolloutSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    problems.push(...parsed.error.issues.map((i) => `rollout.${i.path.map(String).join('.')}: ${i.message}`));
    return undefined;
  }
  const r = parsed.data;
  const gates: Gate[] = [];
  const names = new Set<string>();
  for (const [i, rawGate] of (r.gates ?? DEFAULT_GATES).entries()) {
    const g = gateSchema.safeParse(rawGate);
    if (!g.success) {
      problems.push(
        ...g.error.issues.map((issue) => `rollout.gates.${[i, ...issue.path].join('.')}: ${issue.message}`),
      );
      continue;
    }
    if (names.has(g.data.name)) problems.push(`rollout.gates.${i}.name: duplicate gate name ${g.data.name}`);
    names.add(g.data.name);
    gates.push({ ...g.data, interval: g.data.interval ?? r.interval });
  }
  return {
    steps: r.steps,
    interval: r.interval,
    stepMinDuration: r.step_min_duration,
    stepMinRequests: r.step_min_requests,
    evalHistory: r.eval_history,
    annQueries: r.ann_queries,
    shadowSample: r.shadow_sample,
    maxQueueLag: r.max_queue_lag,
    minCoverage: r.min_coverage,
    webhooks: {
      beforePromotion: r.webhooks.before_promotion,
      onRollback: r.webhooks.on_rollback,
      timeout: r.webhooks.timeout,
    },
    alertRollbackSeverities: r.alert_rollback_severities.map((x) => x.toLowerCase()),
    gates,
    defaultGates: r.gates === undefined,
    segments: r.segments,
    deny: r.deny ?? null,
  };
}
