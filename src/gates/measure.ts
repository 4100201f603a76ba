import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { jitBacklog, jitSummary } from '../backfill/jit.js';
import { candidateReadiness, type Readiness, type ReadinessOptions } from '../backfill/readiness.js';
import type { Profile } from '../config/profile.js';
import type { Gate, GateMetric } from '../config/rollout.js';
import type { Database } from '../db/database.js';
import type { HistoryEntry } from '../eval/history.js';
import { METRIC_NAMES, type RetrievalSummary } from '../eval/metrics.js';
import { profileForCorpus } from '../eval/prepare.js';
import type { Source } from '../source/source.js';
import { verifyStore } from '../store/verify.js';
import { readServingMetrics, type MigrationTag, type ServingSummary } from '../telemetry/serving-metrics.js';
import { isShadow, type Measurement } from './evaluate.js';

export interface MeasureContext {
  db: Database;
  source: Source;
  control: Profile;
  candidate: Profile;
  /**
   * Online and shadow gates count only traffic served under this state of the migration (the
   * current step); without it, all of the window's traffic (what an alert rule looks at).
   */
  migration?: MigrationTag;
  /** The database's clock: serving windows are stamped with it. */
  now: Date;
  evalHistory: string;
  annQueries: number;
  /** Where a serving gate's window starts (default: now − the gate's interval). */
  windowStart?: (gate: Gate) => Date | undefined;
  /** Readiness by lag (rollout.max_queue_lag, rollout.min_coverage) for the coverage and verify gates. */
  readiness?: ReadinessOptions;
  /**
   * At cutover: only evaluations run after this time count. An earlier one judged the rollout
   * that led here (a forced cutover may have overruled it), so it is no new evidence, and its
   * absence is held whatever the gate's no_data policy.
   */
  offlineSince?: Date;
  /** When the migration was created: just-in-time gates count nothing earlier (another migration's). */
  migrationCreatedAt?: Date;
  /** The ANN agreement check (eval/ann-check.ts); injected so the gate layer stays testable. */
  annOverlap?: (profile: Profile, queries: number) => Promise<{ overlap: number; details: Record<string, unknown> }>;
}

const OFFLINE_KEYS: Record<string, keyof RetrievalSummary> = Object.fromEntries(
  Object.entries(METRIC_NAMES).map(([name, key]) => [`offline.${name}`, key]),
);

/** One readiness count per tick (one measure context) for the coverage and verify gates alike. */
const readinessByTick = new WeakMap<MeasureContext, Promise<Readiness>>();
function readinessOf(ctx: MeasureContext): Promise<Readiness> {
  let r = readinessByTick.get(ctx);
  if (!r) readinessByTick.set(ctx, (r = candidateReadiness(ctx.db, ctx.source, ctx.candidate, ctx.readiness)));
  return r;
}

/** Measures one gate's metric for the candidate and, where it has one, the control. */
export async function measure(gate: Gate, ctx: MeasureContext): Promise<Measurement> {
  const metric = gate.metric;
  if (metric === 'coverage') {
    // Rows changed within the queue lag count as covered: on a live system some row has always
    // just changed, and counted coverage of exactly 1 would hold the rollout for ever.
    const r = await readinessOf(ctx);
    return {
      candidate: r.sourceRows === 0 ? 1 : (r.current + r.inFlight) / r.sourceRows,
      control: null,
      ...(r.reasons.length ? { note: r.reasons.join('; ') } : {}),
      details: {
        sourceRows: r.sourceRows,
        current: r.current,
        counted: r.coverage,
        inFlight: r.inFlight,
        lagging: r.lagging,
        unqueued: r.unqueued,
        ...(r.reasons.length ? { notReady: r.reasons } : {}),
      },
    };
  }
  if (metric === 'verify.failed_checks') {
    // Stale, missing and orphaned rows are judged by lag: only those no recent change accounts for fail.
    const [report, r] = await Promise.all([
      verifyStore(ctx.db, ctx.source, ctx.candidate, { maxQueueLagMs: 0 }),
      readinessOf(ctx),
    ]);
    const failing = report.checks
      .filter((c) => !c.ok && !['stale', 'missing', 'orphans'].includes(c.name))
      .map((c) => `${c.name} (${c.count})`);
    if (r.unqueued + r.lagging > 0) failing.push(`not current (${r.unqueued + r.lagging}; in flight ${r.inFlight})`);
    return {
      candidate: failing.length,
      control: null,
      ...(failing.length ? { note: failing.join(', ') } : {}),
      details: { failing, inFlight: r.inFlight },
    };
  }
  if (metric === 'ann.overlap') {
    if (!ctx.annOverlap) return { candidate: null, control: null, note: 'no ANN check configured' };
    const { overlap, details } = await ctx.annOverlap(ctx.candidate, ctx.annQueries);
    return { candidate: overlap, control: null, details };
  }
  if (metric in OFFLINE_KEYS) return measureOffline(OFFLINE_KEYS[metric]!, ctx);
  if (metric === 'jit.items_per_minute' || metric === 'jit.time_to_embed_p95_ms') return measureJit(gate, ctx);
  return measureServing(gate, ctx);
}

/**
 * Just-in-time requests of the candidate over the gate's interval. None at all passes (nothing
 * waited).
 *
 * `jit.time_to_embed_p95_ms`: its samples are the requests in play (completed in the window or
 * still waiting); a request still waiting counts with the time it has waited so far, so a stuck
 * worker shows as a growing time, not as no data.
 *
 * `jit.items_per_minute` is the workers' throughput, which only a backlog shows: completions per
 * minute of the window say how many were asked for (fifteen requests in five minutes, each
 * embedded at once, are 3 a minute), and completions per minute of waiting say how long one took
 * (requests trickling in one at a time). So the rate judged is the requests embedded while
 * another still waited, per minute during which two or more waited (jitBacklog), once
 * min_samples were embedded so; a request that has waited the whole window is judged by the
 * window's rate (the workers are not keeping up); with nothing waiting, every request was
 * served and it passes; otherwise no data.
 *
 * Both count from the migration's creation at the earliest: completions of an earlier
 * migration of the same candidate (rolled back minutes ago) are not this one's evidence.
 */
async function measureJit(gate: Gate, ctx: MeasureContext): Promise<Measurement> {
  const from = new Date(Math.max(ctx.now.getTime() - gate.interval, ctx.migrationCreatedAt?.getTime() ?? 0));
  const s = await jitSummary(ctx.db, ctx.candidate.name, { from, to: ctx.now });
  const backlog =
    gate.metric === 'jit.items_per_minute' ? await jitBacklog(ctx.db, ctx.candidate.name, { from, to: ctx.now }) : null;
  const details = {
    window: s.window,
    completed: s.completed,
    ...(backlog ? { backlog } : {}),
    pending: s.pending,
    oldestPendingSeconds: s.oldestPendingSeconds,
    timeToEmbedMs: s.timeToEmbedMs,
  };
  const counts = `${s.completed} completed, ${s.pending} waiting`;
  // No search asked for a missing document: nothing waited, so nothing kept anyone waiting.
  if (s.completed + s.pending === 0)
    return {
      candidate: null,
      control: null,
      vacuous: 'no just-in-time request in the window (nothing waited)',
      details,
    };
  if (gate.metric === 'jit.time_to_embed_p95_ms') {
    if (s.completed + s.pending < gate.min_samples)
      return {
        candidate: null,
        control: null,
        note: `${s.completed + s.pending} just-in-time requests in the window (${counts}), fewer than min_samples ${gate.min_samples}`,
        details,
      };
    return {
      candidate: Math.max(s.timeToEmbedMs?.p95 ?? 0, (s.oldestPendingSeconds ?? 0) * 1000),
      control: null,
      details,
    };
  }
  const { completed, seconds } = backlog!;
  const rate = `${completed} embedded while another waited, in the ${Math.round(seconds)} s of the window with two or more waiting`;
  if (completed >= gate.min_samples)
    return { candidate: completed / (Math.max(seconds, 1) / 60), control: null, note: rate, details };
  if ((s.oldestPendingSeconds ?? 0) * 1000 >= gate.interval)
    return {
      candidate: s.itemsPerMinute,
      control: null,
      note: `a request has waited the whole window (${counts})`,
      details,
    };
  if (s.pending === 0)
    return {
      candidate: null,
      control: null,
      vacuous: `no backlog to measure: every just-in-time request in the window was embedded (${s.completed}; ${rate}, fewer than min_samples ${gate.min_samples})`,
      details,
    };
  return {
    candidate: null,
    control: null,
    note: `${counts} in the window: fewer than min_samples ${gate.min_samples} embedded under a backlog while requests wait`,
    details,
  };
}

/** The fingerprints an evaluation of the profile may carry (its own, or its corpus variant's). */
export function fingerprintsOf(p: Profile): string[] {
  return [p.fingerprint, profileForCorpus(p).profile.fingerprint];
}

/** The newest history entry that evaluated both profiles with their current configuration. */
export function findOfflineEvaluation(
  file: string,
  control: Profile,
  candidate: Profile,
): { entry: HistoryEntry; control: RetrievalSummary; candidate: RetrievalSummary } | null {
  const path = resolve(file);
  if (!existsSync(path)) return null;
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let entry: HistoryEntry;
    try {
      entry = JSON.parse(line) as HistoryEntry;
    } catch {
      continue; // a torn last line of a crashed writer; older lines are still good
    }
    const find = (p: Profile) =>
      entry.profiles?.find((e) => e.profile === p.name && fingerprintsOf(p).includes(e.fingerprint));
    const a = find(control);
    const b = find(candidate);
    if (a && b) return { entry, control: a.exact, candidate: b.exact };
  }
  return null;
}

function measureOffline(key: keyof RetrievalSummary, ctx: MeasureContext): Measurement {
  const found = findOfflineEvaluation(ctx.evalHistory, ctx.control, ctx.candidate);
  if (!found) {
    return {
      candidate: null,
      control: null,
      note: `no evaluation of ${ctx.control.name} and ${ctx.candidate.name} in ${ctx.evalHistory}: run \`reembed eval --dataset DIR --profiles ${ctx.control.name},${ctx.candidate.name}\``,
      // At a watched cutover no new evaluation is no evidence against the candidate either.
      holdOnNoData: ctx.offlineSince !== undefined,
    };
  }
  if (ctx.offlineSince && Date.parse(found.entry.time) <= ctx.offlineSince.getTime()) {
    return {
      candidate: null,
      control: null,
      note: `no evaluation since the cutover at ${ctx.offlineSince.toISOString()} (the last one, ${found.entry.time}, judged the rollout before it)`,
      holdOnNoData: true,
      details: { evaluatedAt: found.entry.time, since: ctx.offlineSince.toISOString() },
    };
  }
  const candidate = Number(found.candidate[key]);
  const control = Number(found.control[key]);
  if (!Number.isFinite(candidate) || !Number.isFinite(control))
    return { candidate: null, control: null, note: `the evaluation of ${found.entry.time} has no ${key}` };
  return {
    candidate,
    control,
    details: { evaluatedAt: found.entry.time, dataset: found.entry.dataset.name, queries: found.entry.dataset.queries },
  };
}

function servingValue(metric: GateMetric, s: ServingSummary): number | null {
  switch (metric) {
    case 'online.requests':
      return s.requests;
    case 'online.error_rate':
      return s.errorRate;
    case 'online.fallback_rate':
      return s.fallbackRate;
    case 'online.latency_p50_ms':
      return s.latencyMs.p50;
    case 'online.latency_p95_ms':
      return s.latencyMs.p95;
    case 'online.latency_p99_ms':
      return s.latencyMs.p99;
    case 'online.latency_mean_ms':
      return s.latencyMs.mean;
    case 'online.breaker_opens':
      return s.breakerOpens;
    case 'online.cache_hit_rate':
      return s.cache.hitRate;
    case 'online.top1_score':
      return s.quality.top1Score;
    case 'online.top5_pairwise_cosine':
      return s.quality.top5PairwiseCosine;
    case 'online.rerank_acceptance':
      return s.rerank.acceptance;
    case 'online.rerank_latency_p95_ms':
      return s.rerank.latencyMs.p95;
    case 'shadow.overlap':
      return s.shadow.overlap;
    case 'shadow.rbo':
      return s.shadow.rbo;
    default:
      throw new Error(`not a serving metric: ${metric}`);
  }
}

/** Online and shadow metrics of the windows written over the gate's interval in the current step. */
async function measureServing(gate: Gate, ctx: MeasureContext): Promise<Measurement> {
  const from = ctx.windowStart?.(gate) ?? new Date(ctx.now.getTime() - gate.interval);
  const range = { from, to: ctx.now, migration: ctx.migration };
  const [cand, ctl] = await Promise.all([
    readServingMetrics(ctx.db, ctx.candidate.name, range),
    readServingMetrics(ctx.db, ctx.control.name, range),
  ]);
  const window = { from: from.toISOString(), to: ctx.now.toISOString() };
  if (isShadow(gate.metric)) {
    const enough = cand.shadow.compared >= gate.min_samples;
    return {
      candidate: enough ? servingValue(gate.metric, cand) : null,
      control: null,
      note: enough
        ? undefined
        : `${cand.shadow.compared} shadow comparisons, fewer than min_samples ${gate.min_samples}` +
          (cand.shadow.dropped ? ` (${cand.shadow.dropped} dropped under load)` : ''),
      // Samples dropped because the routers were busy say nothing against the candidate: too few
      // comparisons then holds, even under no_data: fail.
      // (Unless its shadow reads also failed: a hanging candidate backs the queue up and makes
      // the drops itself.)
      holdOnNoData: !enough && cand.shadow.dropped > 0 && cand.shadow.errors === 0,
      details: { window, compared: cand.shadow.compared, errors: cand.shadow.errors },
    };
  }
  // Derived signals count their own samples: lookups of the query cache, answered searches for
  // the top-1 score, the sampled searches for the top-5 cosine.
  const derived = DERIVED_SAMPLES[gate.metric];
  if (derived) {
    const [c, k] = [derived(cand), derived(ctl)];
    const [candEnough, ctlEnough] = [c >= gate.min_samples, k >= gate.min_samples];
    return {
      candidate: candEnough ? servingValue(gate.metric, cand) : null,
      control: ctlEnough ? servingValue(gate.metric, ctl) : null,
      note:
        candEnough && ctlEnough
          ? undefined
          : `candidate ${c}, control ${k} samples of ${gate.metric}; min_samples ${gate.min_samples}`,
      // Best-effort signals (sampled after the response, shed under load; a profile without a
      // cache has no hit rate): too few samples say nothing against the candidate.
      holdOnNoData: true,
      details: { window, candidate: { samples: c }, control: { samples: k } },
    };
  }
  const candidateEnough = cand.requests >= gate.min_samples;
  const controlEnough = ctl.requests >= gate.min_samples;
  if (!candidateEnough) {
    const sparse = sparseEvidence(gate, cand, ctl);
    if (sparse)
      return {
        ...sparse,
        details: {
          window,
          sparse: true,
          candidate: { requests: cand.requests, errors: cand.errors },
          control: { requests: ctl.requests, errors: ctl.errors },
        },
      };
  }
  const notes: string[] = [];
  if (!candidateEnough) notes.push(`candidate ${cand.requests} requests`);
  if (!controlEnough) notes.push(`control ${ctl.requests} requests`);
  return {
    candidate: candidateEnough ? servingValue(gate.metric, cand) : null,
    control: controlEnough ? servingValue(gate.metric, ctl) : null,
    note: notes.length ? `${notes.join(', ')}; min_samples ${gate.min_samples}` : undefined,
    details: {
      window,
      candidate: { requests: cand.requests, errors: cand.errors, instances: cand.instances },
      control: { requests: ctl.requests, errors: ctl.errors, instances: ctl.instances },
    },
  };
}

const DERIVED_SAMPLES: Partial<Record<GateMetric, (s: ServingSummary) => number>> = {
  'online.cache_hit_rate': (s) => s.cache.hits + s.cache.sharedHits + s.cache.misses,
  'online.top1_score': (s) => s.requests - s.errors,
  'online.top5_pairwise_cosine': (s) => s.quality.sampled,
  // The rerank stage's searches: acceptance over the reranked ones, latency over every search
  // the stage ran for (reranked or fallen back).
  'online.rerank_acceptance': (s) => s.rerank.on,
  'online.rerank_latency_p95_ms': (s) => s.rerank.on + s.rerank.fallbacks,
};

/** z for a two-sided 99% interval: sparse evidence must be strong before it fails a gate. */
const WILSON_Z = 2.576;

/** The lower bound of the Wilson score interval of a failure rate of `failures` in `n`. */
export function wilsonLowerBound(failures: number, n: number, z = WILSON_Z): number {
  if (n <= 0 || failures <= 0) return 0;
  const p = failures / n;
  const z2 = z * z;
  return Math.max(0, (p + z2 / (2 * n) - z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n));
}

/**
 * Fewer requests than min_samples still decide a rate gate when they cannot be explained by
 * chance: a candidate failing 4 of 4 searches is over a 0.2% limit even though 4 < 20 (the
 * lower bound of its 99% Wilson interval is 0.37). Then the measurement is the observed rates;
 * otherwise null (no data), as before.
 */
function sparseEvidence(
  gate: Gate,
  cand: ServingSummary,
  ctl: ServingSummary,
): Pick<Measurement, 'candidate' | 'control' | 'note'> | null {
  if (cand.requests === 0 || (gate.metric !== 'online.error_rate' && gate.metric !== 'online.fallback_rate'))
    return null;
  const failures = gate.metric === 'online.error_rate' ? cand.errors : cand.fallbacks;
  const control = ctl.requests > 0 ? (servingValue(gate.metric, ctl) ?? 0) : 0;
  const limits = [
    gate.max,
    gate.max_increase !== undefined ? control + gate.max_increase : undefined,
    gate.max_ratio !== undefined && control > 0 ? control * gate.max_ratio : undefined,
  ].filter((x): x is number => x !== undefined);
  if (limits.length === 0) return null;
  const lower = wilsonLowerBound(failures, cand.requests);
  if (!(lower > Math.min(...limits))) return null;
  return {
    candidate: failures / cand.requests,
    control,
    note: `${failures} of ${cand.requests} candidate requests failed, fewer than min_samples ${gate.min_samples} but the 99% lower bound ${Number(lower.toPrecision(3))} is over the limit`,
  };
}
