import type { Manifest } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import { ConfigError, ReembedError } from '../errors.js';
import { truncatedPercent } from '../percent.js';
import { setCapture } from '../source/capture.js';
import type { Source } from '../source/source.js';
import { dropStore, ensureStore } from '../store/store.js';
import { verifyStore } from '../store/verify.js';
import { describeRule, type Segment, type Targeting } from './targeting.js';
import { controlCaptures, NEEDS_COMPLETE_CANDIDATE, nextPhase, type Action } from './phases.js';
import {
  activeMigration,
  applyChange,
  createMigration,
  getMigration,
  latestMigration,
  type Change,
  type MigrationState,
} from './state.js';

export interface LifecycleContext {
  db: Database;
  manifest: Manifest;
  source: Source;
  /** Who acts, for the audit log (e.g. user@host, or `controller`). */
  actor: string;
  /** Backfill planning (`backfillPlanner` of backfill/planner.ts). */
  backfill: BackfillPlanner;
}

/**
 * What the lifecycle needs from backfill/, handed to it rather than imported: DESIGN.md's
 * layers let a migration ask for backfill planning only through a hook it is given.
 */
export interface BackfillPlanner {
  /** What a full backfill of the profile would embed, without embedding. */
  estimate(db: Database, source: Source, profile: Profile): Promise<BackfillEstimate>;
  /** Turns the profile's capture on and plans its chunks; idempotent. */
  prepare(db: Database, source: Source, profile: Profile, profiles: Map<string, Profile>): Promise<unknown>;
  /**
   * Readiness by lag (backfill/readiness.ts): whether the candidate may serve while the
   * application keeps writing, and if not, why.
   */
  readiness(
    conn: Queryable,
    source: Source,
    profile: Profile,
    options: { maxQueueLagMs?: number; minCoverage?: number },
  ): Promise<CandidateReadiness>;
}

/** The planner's readiness report (the shape of backfill/'s Readiness). */
export interface CandidateReadiness {
  ready: boolean;
  /** Counted coverage: current rows / source rows. */
  coverage: number;
  inFlight: number;
  lagging: number;
  unqueued: number;
  /** Why it is not ready, one entry per case. */
  reasons: string[];
}

/** The planner's estimate, recorded with the plan (the shape of backfill/'s BackfillEstimate). */
export interface BackfillEstimate {
  profile: string;
  rows: number;
  toEmbed: number;
  estimatedTokens: number;
  estimatedCost: number | null;
  /** At the profile's rpm/tpm limits, when it has any; null when unlimited. */
  estimatedSeconds: number | null;
  index: string;
}

/** A transition the state machine refuses, with the reason (exit 1: a check failed). */
export class TransitionRefusedError extends ReembedError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('TRANSITION_REFUSED', message, { exitCode: 1, details });
  }
}

export function sourceName(source: Source): string {
  return `${source.schemaName}.${source.tableName}`;
}

function profileOf(ctx: LifecycleContext, name: string): Profile {
  const p = ctx.manifest.profiles.get(name);
  if (!p) throw new ConfigError(`the migration names profile ${name}, which the manifest no longer defines`);
  return p;
}

/** The migration to act on: the given id, or the source's active one. */
export async function currentMigration(ctx: LifecycleContext, id?: string): Promise<MigrationState> {
  if (id) return getMigration(ctx.db, id);
  const active = await activeMigration(ctx.db, sourceName(ctx.source));
  if (!active)
    throw new TransitionRefusedError(
      `no active migration for ${sourceName(ctx.source)}: start one with \`reembed migrate plan --to PROFILE\``,
    );
  return active;
}

/** The given migration, or the source's newest one, ended or not (null when there is none). */
export async function migrationOrLatest(ctx: LifecycleContext, id?: string): Promise<MigrationState | null> {
  return id ? getMigration(ctx.db, id) : latestMigration(ctx.db, sourceName(ctx.source));
}

/** Capture changes, in the transition's transaction. */
function capture(ctx: LifecycleContext, changes: Record<string, boolean>): (tx: Queryable) => Promise<unknown> {
  return (tx) => setCapture(tx, ctx.source, ctx.manifest.profiles, changes);
}

export interface PlanResult {
  migration: MigrationState;
  estimate: BackfillEstimate;
}

/** Validates the move from the control to the candidate, creates the candidate's store, records the plan. */
export async function planMigration(ctx: LifecycleContext, control: string, candidate: string): Promise<PlanResult> {
  const a = profileOf(ctx, control);
  const b = profileOf(ctx, candidate);
  if (a.name === b.name) throw new ConfigError(`the candidate must differ from the control (both are ${a.name})`);
  if (a.fingerprint === b.fingerprint) {
    throw new ConfigError(
      `profiles ${a.name} and ${b.name} have the same fingerprint ${a.fingerprint}: they produce the same vectors, there is nothing to migrate`,
    );
  }
  await ensureStore(ctx.db, a);
  const estimate = await ctx.backfill.estimate(ctx.db, ctx.source, b);
  const migration = await ctx.db.transaction((tx) =>
    createMigration(
      tx,
      { source: sourceName(ctx.source), control: a.name, candidate: b.name },
      {
        actor: ctx.actor,
        action: 'plan',
        details: {
          control: { name: a.name, fingerprint: a.fingerprint },
          candidate: { name: b.name, fingerprint: b.fingerprint },
          estimate,
        },
      },
    ),
  );
  return { migration, estimate };
}

async function transition(
  ctx: LifecycleContext,
  m: MigrationState,
  action: Action,
  change: Omit<Change, 'phase'> & { phase?: Change['phase'] },
  reason: string | null,
  details: Record<string, unknown> = {},
  effects?: (tx: Queryable) => Promise<unknown>,
): Promise<MigrationState> {
  const next = nextPhase(action, m.phase);
  if ('refused' in next) throw new TransitionRefusedError(`migration ${m.id}: ${next.refused}`, { phase: m.phase });
  // The state change, its audit event and its effects (capture, dropped stores) commit
  // together, after the version check: a stale or refused change has no effect at all.
  return ctx.db.transaction(async (tx) => {
    const state = await applyChange(
      tx,
      m,
      { ...change, phase: change.phase ?? next.to },
      { actor: ctx.actor, action, reason, details },
    );
    await effects?.(tx);
    return state;
  });
}

/** Capture on for control and candidate (dual-write), candidate's chunks planned: workers start. */
export async function startMigration(ctx: LifecycleContext, m: MigrationState): Promise<MigrationState> {
  const a = profileOf(ctx, m.control);
  const b = profileOf(ctx, m.candidate);
  await ensureStore(ctx.db, b);
  const started = await transition(
    ctx,
    m,
    'start',
    { percent: 0 },
    null,
    {},
    capture(ctx, { [a.name]: true, [b.name]: true }),
  );
  // Planning is idempotent: if it fails here, `reembed backfill --profile B` plans again.
  await ctx.backfill.prepare(ctx.db, ctx.source, b, ctx.manifest.profiles);
  return started;
}

export async function shadowMigration(
  ctx: LifecycleContext,
  m: MigrationState,
  sample: number,
): Promise<MigrationState> {
  if (!(sample >= 0 && sample <= 1)) throw new ConfigError(`--sample must be between 0 and 1, got ${sample}`);
  return transition(ctx, m, 'shadow', { percent: m.percent, shadowSample: sample }, null, { sample });
}

/** Verify checks that readiness by lag judges instead (a live change makes rows stale for a moment). */
const LAG_CHECKS = ['stale', 'missing', 'orphans'];

/** Options of a promotion: `force` skips the readiness check (with a reason for the audit log). */
export interface PromotionOptions {
  force?: boolean;
  reason?: string;
  /** Overrides rollout.max_queue_lag for this step. */
  maxQueueLagMs?: number;
}

/**
 * Evidence that the candidate may serve: ready by lag (backfill complete, no dead letters,
 * every row that is not current accounted for by a recent queued change, coverage at least
 * rollout.min_coverage) and a clean verify of everything else.
 */
async function candidateEvidence(
  ctx: LifecycleContext,
  m: MigrationState,
  options: PromotionOptions,
): Promise<{ coverage: number; readiness: CandidateReadiness; verifyOk: boolean; failing: string[] }> {
  const b = profileOf(ctx, m.candidate);
  const readiness = await ctx.backfill.readiness(ctx.db, ctx.source, b, {
    maxQueueLagMs: options.maxQueueLagMs ?? ctx.manifest.rollout.maxQueueLag,
    minCoverage: ctx.manifest.rollout.minCoverage,
  });
  // The rows not current are judged by the readiness above; verify need not count them in flight again.
  const report = await verifyStore(ctx.db, ctx.source, b, { maxQueueLagMs: 0 });
  const failing = report.checks.filter((c) => !c.ok && !LAG_CHECKS.includes(c.name));
  return {
    coverage: readiness.coverage,
    readiness,
    verifyOk: failing.length === 0,
    failing: failing.map((c) => `${c.name} (${c.count})`),
  };
}

async function requireCandidateReady(
  ctx: LifecycleContext,
  m: MigrationState,
  action: Action,
  options: PromotionOptions,
): Promise<Record<string, unknown>> {
  // The phase is checked first: a wrong phase is the clearer message, and costs no counting.
  const allowed = nextPhase(action, m.phase);
  if ('refused' in allowed)
    throw new TransitionRefusedError(`migration ${m.id}: ${allowed.refused}`, { phase: m.phase });
  if (!NEEDS_COMPLETE_CANDIDATE.includes(action)) return {};
  const evidence = await candidateEvidence(ctx, m, options);
  const ready = evidence.readiness.ready && evidence.verifyOk;
  if (ready) return { evidence };
  if (options.force) {
    if (!options.reason) throw new ConfigError('--force needs --reason "why"');
    return { evidence, forced: true };
  }
  const why = [
    ...evidence.readiness.reasons,
    ...(evidence.verifyOk ? [] : [`verify fails: ${evidence.failing.join(', ')}`]),
  ];
  throw new TransitionRefusedError(
    `migration ${m.id}: cannot ${action}: the candidate ${m.candidate} is not ready (coverage ${truncatedPercent(evidence.coverage)}: ${why.join('; ')}); finish the backfill, or use --force --reason "…"`,
    { evidence },
  );
}

/** Raises the share of subjects the candidate serves; only upward (downward is a rollback). */
/** A ramp's options: a promotion's, and a segment of rollout.segments to switch on. */
export interface RampOptions extends PromotionOptions {
  /** Serve this named segment the candidate too (before, or beside, the percentage). */
  segment?: string;
}

/**
 * Serves the candidate to `percent` of subjects (null: the percentage stays, for a segment-only
 * step), plus every switched-on segment, minus rollout.deny (read from the manifest at each ramp).
 */
export async function rampMigration(
  ctx: LifecycleContext,
  m: MigrationState,
  percent: number | null,
  options: RampOptions = {},
): Promise<MigrationState> {
  if (percent !== null && (!Number.isInteger(percent) || percent < 1 || percent > 100))
    throw new ConfigError(`ramp takes a whole percentage from 1 to 100, got ${percent}`);
  const segment = options.segment === undefined ? null : segmentNamed(ctx, options.segment);
  if (percent === null && !segment) throw new ConfigError('ramp needs a percentage, a segment, or both');
  const allowed = nextPhase('ramp', m.phase);
  if ('refused' in allowed)
    throw new TransitionRefusedError(`migration ${m.id}: ${allowed.refused}`, { phase: m.phase });
  const target = percent ?? m.percent;
  const segmentOn = segment !== null && m.targeting.segments.some((s) => s.name === segment.name);
  // Already there: nothing to change, and nothing to record (a script may repeat a step).
  if (m.phase === 'canary' && target === m.percent && (segment === null || segmentOn)) return m;
  if (m.phase === 'canary' && target < m.percent) {
    throw new TransitionRefusedError(`migration ${m.id}: ramp only goes up (now ${m.percent}%); to go down, roll back`);
  }
  const details = await requireCandidateReady(ctx, m, 'ramp', options);
  // The manifest's deny-list, when it has one; a process whose manifest has none keeps the
  // migration's, so a ramp from another host never lets denied subjects in by omission.
  const deny = ctx.manifest.rollout.deny;
  const targeting: Targeting = {
    segments: segment && !segmentOn ? [...m.targeting.segments, segment] : m.targeting.segments,
    deny: deny ? { subjects: [...deny.subjects], prefixes: [...deny.prefixes] } : m.targeting.deny,
  };
  return transition(ctx, m, 'ramp', { percent: target, targeting }, options.reason ?? null, {
    ...details,
    ...(segment ? { segment: { name: segment.name, who: describeRule(segment) } } : {}),
    ...(targeting.segments.length ? { segments: targeting.segments.map((s) => s.name) } : {}),
    ...(targeting.deny ? { deny: describeRule(targeting.deny) } : {}),
  });
}

function segmentNamed(ctx: LifecycleContext, name: string): Segment {
  const found = ctx.manifest.rollout.segments.find((s) => s.name === name);
  if (!found) {
    const known = ctx.manifest.rollout.segments.map((s) => s.name);
    throw new ConfigError(
      `no segment ${JSON.stringify(name)} in rollout.segments of the manifest` +
        (known.length ? ` (it has: ${known.join(', ')})` : ' (it has none)'),
    );
  }
  return { name: found.name, subjects: [...found.subjects], prefixes: [...found.prefixes] };
}

export async function cutoverMigration(
  ctx: LifecycleContext,
  m: MigrationState,
  force: PromotionOptions = {},
): Promise<MigrationState> {
  const details = await requireCandidateReady(ctx, m, 'cutover', force);
  return transition(ctx, m, 'cutover', { percent: 100, cutoverAt: 'now' }, force.reason ?? null, details);
}

/** Stops writing the control: its store no longer follows the source. */
export async function finalizeMigration(ctx: LifecycleContext, m: MigrationState): Promise<MigrationState> {
  return transition(
    ctx,
    m,
    'finalize',
    { percent: 100, finalizedAt: 'now' },
    null,
    {},
    capture(ctx, { [m.control]: false }),
  );
}

/** Drops the control's store once the retention period since finalize has passed. */
export async function cleanupMigration(
  ctx: LifecycleContext,
  m: MigrationState,
  olderThanMs: number,
): Promise<MigrationState> {
  if (m.phase === 'finalized' && m.finalizedAt) {
    const age = Date.now() - Date.parse(m.finalizedAt);
    if (age < olderThanMs) {
      throw new TransitionRefusedError(
        `migration ${m.id}: finalized ${Math.floor(age / 1000)} s ago, less than the retention of ${Math.floor(olderThanMs / 1000)} s; the control's store is kept for a rollback until then`,
      );
    }
  }
  return transition(ctx, m, 'cleanup', { percent: 100 }, null, { dropped: m.control }, async (tx) => {
    await dropStore(tx, m.control);
  });
}

/**
 * Back to the control at once, from any phase. The candidate stops capturing (its store is
 * kept, so a later attempt resumes cheaply). After finalize the control was no longer written:
 * it would serve missing, old and deleted documents (after cleanup, nothing at all) until its
 * catch-up backfill ends, so that rollback needs `force` with a reason; its capture comes back
 * and its backfill is planned.
 */
export async function rollbackMigration(
  ctx: LifecycleContext,
  m: MigrationState,
  reason: string,
  options: { force?: boolean } = {},
): Promise<MigrationState> {
  if (!reason?.trim()) throw new ConfigError('rollback needs --reason "why"');
  const controlWasStopped = !controlCaptures(m.phase);
  if (controlWasStopped && !options.force) {
    throw new TransitionRefusedError(
      `migration ${m.id}: the control ${m.control} has not been written since finalize${m.phase === 'cleaned' ? ' and its store was dropped' : ''}, so it would serve stale or missing documents until a catch-up backfill ends; roll back with --force to accept that, then run workers until \`reembed verify --profile ${m.control}\` passes`,
      { phase: m.phase },
    );
  }
  const next = await transition(
    ctx,
    m,
    'rollback',
    { percent: 0 },
    reason,
    { fromPercent: m.percent, controlCatchUp: controlWasStopped, ...(controlWasStopped ? { forced: true } : {}) },
    async (tx) => {
      if (controlWasStopped) await ensureStore(tx, profileOf(ctx, m.control));
      await setCapture(tx, ctx.source, ctx.manifest.profiles, { [m.candidate]: false, [m.control]: true });
    },
  );
  if (controlWasStopped)
    await ctx.backfill.prepare(ctx.db, ctx.source, profileOf(ctx, m.control), ctx.manifest.profiles);
  return next;
}

export async function abortMigration(
  ctx: LifecycleContext,
  m: MigrationState,
  reason: string,
): Promise<MigrationState> {
  if (!reason?.trim()) throw new ConfigError('abort needs --reason "why"');
  return transition(ctx, m, 'abort', { percent: 0 }, reason, {}, capture(ctx, { [m.candidate]: false }));
}
