import { rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import { parseRollout, type RolloutConfig } from '../config/rollout.js';
import type { Database } from '../db/database.js';
import { runBackfill } from '../backfill/backfill.js';
import type { RetrievalSummary } from '../eval/metrics.js';
import type { Dataset } from '../eval/synthetic.js';
import { Controller, type TickReport } from '../gates/controller.js';
import {
  planMigration,
  rollbackMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../migration/lifecycle.js';
import { getMigration, listEvents, type MigrationEvent, type MigrationState } from '../migration/state.js';
import { seededRandom } from '../random.js';
import { inCanary } from '../router/bucket.js';
import { Router, type ShadowEvent } from '../router/router.js';
import type { Source } from '../source/source.js';
import { injectFaults, type InjectedFaults } from './fault-injection.js';
import type { CreateEmbedderOptions } from '../embedders/create.js';
import { ReembedError } from '../errors.js';
import { backfillPlanner } from '../backfill/planner.js';

/** One controller decision, as the demo reports it. */
export interface DemoTick {
  at: string;
  phase: string;
  percent: number;
  decision: string;
  reason: string;
}

export interface RolloutResult {
  migrationId: string;
  shadow: { compared: number; meanOverlapAt10: number; meanRbo: number; top1Agreement: number };
  /** What the searches of each canary step were served by, while the controller held the step. */
  canary: Array<{
    percent: number;
    searches: number;
    servedByCandidate: number;
    /** Of those searches, how many the canary hash assigns to the candidate (inCanary): what it should serve. */
    assignedToCandidate: number;
    share: number;
  }>;
  controller: { promotions: DemoTick[]; ticks: number; seconds: number };
  cutover: { servedByCandidate: number; searches: number };
  rollback: { servedByControl: number; searches: number };
  history: MigrationEvent[];
  /** The second attempt: the candidate fails a share of its queries and the controller rolls back. */
  failing: {
    migrationId: string;
    injectedErrorRate: number;
    rollback: DemoTick | null;
    gate: string | null;
    fallbacks: number;
    history: MigrationEvent[];
  };
}

interface RolloutInput {
  db: Database;
  manifest: Manifest;
  source: Source;
  dataset: Dataset;
  migration: MigrationState;
  /** The demo's offline evaluation of both profiles: the offline gate reads it. */
  offline: Map<string, RetrievalSummary>;
  /** p95 of each profile's exact searches in the offline evaluation, in ms: what this machine does now. */
  measuredP95Ms: Map<string, number>;
  /** Added to every query embedding (DemoOptions.queryDelayMs). */
  queryDelayMs: number;
  step: (message: string) => void;
}

/**
 * The provider hook that adds `delayMs` to every query embedding of every profile, with more
 * faults on top for some (the failing candidate); undefined (the profiles' own providers) when
 * there is nothing to add.
 */
export function slowQueries(
  delayMs: number,
  faults: Record<string, InjectedFaults> = {},
  random: () => number = seededRandom(11),
): CreateEmbedderOptions['provider'] {
  if (delayMs <= 0 && Object.keys(faults).length === 0) return undefined;
  const slow = (name: string): InjectedFaults => ({ ...faults[name], extraLatencyMs: delayMs });
  return (profile) => injectFaults({ [profile.name]: slow(profile.name) }, random)(profile);
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** What the offline evaluation measured on this machine, which the demo's limits scale with. */
export interface MeasuredLatency {
  controlP95Ms: number;
  candidateP95Ms: number;
}

/**
 * The demo's rollout: the runbook's kinds of gates, judged by traffic rather than by time. The
 * demo ticks the controller itself after each round of searches (see driveByTraffic), so the
 * durations here do not pace anything: steps last as many searches as the gates need, on a
 * fast machine or a loaded one.
 *
 * The candidate has four times the dimensions of the control, and at the demo's size PostgreSQL
 * scans every row instead of using the index, so its searches cost several times the
 * control's: the latency gate allows 10x the control's p95 (or three times the ratio the offline
 * evaluation just measured, when that is more), under an absolute budget of 250 ms or four times
 * the candidate's measured p95 on a loaded machine. The runbook default is 1.15x for
 * like-for-like models.
 */
export function demoRollout(evalHistory: string, measured?: MeasuredLatency): RolloutConfig {
  const problems: string[] = [];
  // 30 samples before a verdict: with 10, a candidate failing 20% of its searches passed a
  // window without an error one time in ten (0.8^10) and was promoted; with 30, one time in 800.
  const online = { min_samples: 30, failure_limit: 3, consecutive_limit: 2 };
  const ratio = measured ? measured.candidateP95Ms / Math.max(measured.controlP95Ms, 0.1) : 0;
  const maxRatio = Math.max(10, Math.ceil(3 * ratio));
  const budgetMs = Math.max(250, Math.ceil(4 * (measured?.candidateP95Ms ?? 0)));
  const rollout = parseRollout(
    {
      steps: [5, 25, 50, 100],
      // Only the gates' own interval matters: they are measured at every tick of the demo.
      interval: '500ms',
      step_min_duration: '0s',
      step_min_requests: 10,
      eval_history: evalHistory,
      gates: [
        { name: 'coverage', metric: 'coverage', min: 1 },
        { name: 'verify', metric: 'verify.failed_checks', max: 0 },
        { name: 'offline-recall5', metric: 'offline.recall@5', max_decrease: 0.02 },
        { name: 'error-rate', metric: 'online.error_rate', max_increase: 0.002, ...online },
        { name: 'latency-p95', metric: 'online.latency_p95_ms', max_ratio: maxRatio, max: budgetMs, ...online },
        { name: 'breaker-trips', metric: 'online.breaker_opens', max: 0, min_samples: 1, failure_limit: 1 },
      ],
    },
    problems,
  );
  if (!rollout) throw new Error(`the demo's rollout configuration is invalid: ${problems.join('; ')}`);
  return rollout;
}

/** Writes the demo's offline evaluation as one `reembed eval` history line, for the offline gate. */
function writeHistory(file: string, profiles: Profile[], offline: Map<string, RetrievalSummary>, queries: number) {
  const entry = {
    time: new Date().toISOString(),
    dataset: { name: 'demo', dir: 'generated', split: 'test', documents: 0, queries },
    profiles: profiles.map((p) => ({ profile: p.name, fingerprint: p.fingerprint, exact: offline.get(p.name)! })),
  };
  writeFileSync(file, `${JSON.stringify(entry)}\n`);
}

/** "controller at canary 5%: PROMOTE — every gate passed …": one line per decision the demo prints. */
function tickLine(t: TickReport): string {
  const where = t.tick.phase === 'canary' ? `canary ${t.tick.percent}%` : t.tick.phase;
  return `controller at ${where}: ${t.tick.decision.toUpperCase()} — ${t.tick.reason}`;
}

function demoTick(t: TickReport): DemoTick {
  return {
    at: t.tick.at,
    phase: t.tick.phase,
    percent: t.tick.percent,
    decision: t.tick.decision,
    reason: t.tick.reason,
  };
}

/** The searches each profile is chosen for in a canary round: one full window of every online gate. */
export function roundSamples(rollout: RolloutConfig): number {
  const online = rollout.gates.filter((g) => g.metric.startsWith('online.')).map((g) => g.min_samples);
  return Math.max(rollout.stepMinRequests, ...online);
}

/**
 * The demo's users: searches from ever new subjects, sent in rounds and counted by the canary
 * step that served them. A round in a canary step lasts until the candidate and the control have
 * each been chosen for `samples` searches; outside the canary no traffic is needed to judge.
 */
class Traffic {
  private next = 0;
  fallbacks = 0;
  searches = 0;
  /** Time spent in searches, in ms: with `searches`, what this machine serves per second. */
  busyMs = 0;
  readonly steps = new Map<number, { searches: number; servedByCandidate: number; assignedToCandidate: number }>();

  constructor(
    private readonly router: Router,
    private readonly queries: string[],
    private readonly candidate: string,
  ) {}

  perSecond(): number {
    return this.busyMs > 0 ? (1000 * this.searches) / this.busyMs : 0;
  }

  async round(samples: number): Promise<void> {
    const m = this.router.migration();
    if (m?.phase !== 'canary') return;
    // The share of the smaller side; past ten times the expected searches, the routing is broken
    // and the controller will say what it saw.
    const share = Math.min(m.percent, 100 - m.percent) / 100;
    const limit = Math.ceil((10 * samples) / Math.max(share, 0.01));
    let candidate = 0;
    let control = 0;
    for (let n = 0; (candidate < samples || control < samples) && n < limit; n++) {
      const subject = `user-${this.next}`;
      const t0 = performance.now();
      // Numbered, so no two searches repeat a query: live traffic is mostly new queries, and a
      // repeated one would be answered from the query cache without the (failing) provider.
      const query = `${this.queries[this.next % this.queries.length]!} ${this.next}`;
      const res = await this.router.search(query, { subject });
      this.busyMs += performance.now() - t0;
      this.next++;
      this.searches++;
      if (res.fallback) this.fallbacks++;
      // A fallback was the candidate's search, answered by the control.
      if (res.profile === this.candidate || res.fallback) candidate++;
      else control++;
      if (res.migration?.phase !== 'canary') continue;
      const { id, percent } = res.migration;
      let s = this.steps.get(percent);
      if (!s) this.steps.set(percent, (s = { searches: 0, servedByCandidate: 0, assignedToCandidate: 0 }));
      s.searches++;
      if (res.profile === this.candidate) s.servedByCandidate++;
      if (inCanary(id, subject, percent)) s.assignedToCandidate++;
    }
    // Shadow reads count in the same windows; then every count of the round is in the database.
    await this.router.drainShadows();
    await this.router.metrics?.flush();
  }
}

/**
 * Drives a migration by traffic: a round of searches, one controller tick, and again, until the
 * controller is done. Every round gives the online gates a full window whatever the machine's
 * speed, so a loaded machine reaches the same verdicts, only later. The limit is a number of
 * evaluations, not a clock; when it is reached, the error says how fast the searches ran.
 */
async function driveByTraffic(options: {
  controller: Controller;
  router: Router;
  traffic: Traffic;
  rollout: RolloutConfig;
  onTick: (t: TickReport) => void;
}): Promise<{ last: TickReport | null; ticks: number; exhausted: string | null }> {
  const { controller, router, traffic, rollout } = options;
  const samples = roundSamples(rollout);
  // Each step normally needs one round; a gate may hold a few (a transient no-data, a failure
  // short of its limits) before its record decides.
  const maxTicks = 4 * (rollout.steps.length + 2);
  let last: TickReport | null = null;
  let ticks = 0;
  try {
    while (ticks < maxTicks) {
      await router.refresh();
      await traffic.round(samples);
      last = await controller.tick();
      ticks++;
      options.onTick(last);
      if (last.done) return { last, ticks, exhausted: null };
    }
  } finally {
    await controller.release();
  }
  return {
    last,
    ticks,
    exhausted: `no decision after ${ticks} evaluations of ${samples} searches per profile each (${traffic.searches} searches at ${traffic.perSecond().toFixed(0)}/s on this machine)`,
  };
}

/** The budgets of the demo's router, scaled by the searches the offline evaluation timed on this machine. */
function routerBudgets(measured: MeasuredLatency) {
  // Ten times the slowest profile's p95 at the least: a loaded machine is not a failing candidate.
  const slowest = Math.max(measured.candidateP95Ms, measured.controlP95Ms);
  return {
    breaker: { timeoutMs: Math.max(2000, Math.ceil(10 * slowest)) },
    searchDeadlineMs: Math.max(5000, Math.ceil(20 * slowest)),
    shadowTimeoutMs: Math.max(5000, Math.ceil(20 * slowest)),
  };
}

/**
 * The serving half of the story: shadow reads with overlap figures, then the controller ramps
 * 5 → 25 → 50 → 100 as rounds of searches from many subjects reach it, a rollback drill, and a
 * second attempt whose candidate fails queries, which the controller rolls back, naming the gate.
 */
export async function rolloutStory(input: RolloutInput): Promise<RolloutResult> {
  const { db, manifest, source, dataset, step } = input;
  const ctx: LifecycleContext = { db, manifest, source, actor: 'demo', backfill: backfillPlanner };
  const control = manifest.profiles.get(input.migration.control)!;
  const candidate = manifest.profiles.get(input.migration.candidate)!;
  const measured: MeasuredLatency = {
    controlP95Ms: input.measuredP95Ms.get(control.name) ?? 0,
    candidateP95Ms: input.measuredP95Ms.get(candidate.name) ?? 0,
  };
  const budgets = routerBudgets(measured);
  const dir = mkdtempSync(join(tmpdir(), 'reembed-demo-'));
  const historyFile = join(dir, 'eval-history.jsonl');
  writeHistory(historyFile, [control, candidate], input.offline, dataset.queries.length);
  const rollout = demoRollout(historyFile, measured);
  const shadows: ShadowEvent[] = [];
  const shadowSlots = 8;
  const router = await new Router(db, manifest, source, {
    defaultProfile: control.name,
    shadow: { maxConcurrent: shadowSlots, timeoutMs: budgets.shadowTimeoutMs },
    breaker: budgets.breaker,
    searchDeadlineMs: budgets.searchDeadlineMs,
    onShadow: (e) => shadows.push(e),
    embedderOptions: { provider: slowQueries(input.queryDelayMs) },
    // Written when a round ends (Traffic.round); the timer only catches stragglers.
    metrics: { windowMs: 1000 },
    pollMs: 100,
  }).start();
  let closing: Promise<void> | undefined;
  const closeRouter = () => (closing ??= router.close());
  const queries = dataset.queries.map((q) => q.text);
  const searchAll = async (count: number, subjectPrefix: string) => {
    let served = 0;
    for (let i = 0; i < count; i++) {
      const res = await router.search(queries[i % queries.length]!, { subject: `${subjectPrefix}-${i}` });
      if (res.profile === candidate.name) served++;
      // Shadow reads never hold up a response; the demo's users wait for them now and then, so
      // none is dropped for want of a slot however slow the machine.
      if ((i + 1) % shadowSlots === 0) await router.drainShadows();
    }
    await router.drainShadows();
    return served;
  };
  try {
    let m = await shadowMigration(ctx, input.migration, 1);
    await router.refresh();
    await searchAll(queries.length, 'shadow-user');
    const compared = shadows.filter((s) => s.comparison);
    const shadow = {
      compared: compared.length,
      meanOverlapAt10: mean(compared.map((s) => s.comparison!.overlap)),
      meanRbo: mean(compared.map((s) => s.comparison!.rbo)),
      top1Agreement: mean(compared.map((s) => (s.comparison!.top1 ? 1 : 0))),
    };
    step(
      `shadow: ${shadow.compared} searches compared, mean overlap@10 ${shadow.meanOverlapAt10.toFixed(3)}, RBO ${shadow.meanRbo.toFixed(3)}, top-1 agreement ${(shadow.top1Agreement * 100).toFixed(1)}%`,
    );
    m = await shadowMigration(ctx, m, 0);

    step(
      `controller: steps ${rollout.steps.join(' → ')}%, gates ${rollout.gates.map((g) => g.name).join(', ')}, judged after every ${roundSamples(rollout)} searches of each profile`,
    );
    const started = performance.now();
    const promotions: DemoTick[] = [];
    const load = new Traffic(router, queries, candidate.name);
    const driven = await driveByTraffic({
      controller: new Controller({ db, manifest, source, rollout, migrationId: m.id, windowsByTick: true }),
      router,
      traffic: load,
      rollout,
      onTick: (t) => {
        if (t.tick.decision === 'hold') return;
        promotions.push(demoTick(t));
        step(tickLine(t));
      },
    });
    const ticks = driven.ticks;
    const seconds = (performance.now() - started) / 1000;
    const reached = promotions.at(-1);
    if (reached?.decision !== 'complete') {
      const last = driven.last?.tick;
      throw new ReembedError(
        'DEMO_ROLLOUT_FAILED',
        `the controller did not promote the healthy candidate: ${last ? `${last.decision}: ${last.reason}` : 'no decision'}${driven.exhausted ? `; ${driven.exhausted}` : ''}`,
      );
    }
    const canary = [...load.steps.entries()]
      .filter(([percent]) => percent < 100)
      .sort(([a], [b]) => a - b)
      .map(([percent, s]) => ({ percent, ...s, share: s.searches ? s.servedByCandidate / s.searches : 0 }));
    for (const c of canary)
      step(
        `canary ${c.percent}%: ${c.servedByCandidate} of ${c.searches} searches from as many subjects served by ${candidate.name} (${(c.share * 100).toFixed(1)}%)`,
      );
    await router.refresh();
    const cut = await searchAll(100, 'after-cutover');
    step(
      `cutover by the controller in ${seconds.toFixed(1)} s (${ticks} evaluations): ${cut} of 100 searches served by ${candidate.name}; ${control.name} is still written for a safety period`,
    );
    m = await getMigration(db, m.id);
    const rolled = await rollbackMigration(ctx, m, 'demo drill: roll back from cutover');
    await router.refresh();
    const back = 100 - (await searchAll(100, 'after-rollback'));
    step(`rollback drill: ${back} of 100 searches served by ${control.name} right after \`migrate rollback\``);
    const history = await listEvents(db, rolled.id);
    await closeRouter();

    const failing = await failingAttempt(input, rollout, budgets, ctx, step);
    return {
      migrationId: rolled.id,
      shadow,
      canary,
      controller: { promotions, ticks, seconds },
      cutover: { servedByCandidate: cut, searches: 100 },
      rollback: { servedByControl: back, searches: 100 },
      history,
      failing,
    };
  } finally {
    await closeRouter();
    rmSync(dir, { recursive: true, force: true });
  }
}

const INJECTED_ERROR_RATE = 0.2;

/** A new migration to the same candidate, whose queries now fail 20% of the time: the controller rolls it back. */
async function failingAttempt(
  input: RolloutInput,
  rollout: RolloutConfig,
  budgets: ReturnType<typeof routerBudgets>,
  ctx: LifecycleContext,
  step: (message: string) => void,
): Promise<RolloutResult['failing']> {
  const { db, manifest, source, dataset } = input;
  const candidate = manifest.profiles.get(input.migration.candidate)!;
  const { migration: planned } = await planMigration(ctx, input.migration.control, candidate.name);
  const started = await startMigration(ctx, planned);
  // The candidate's store was kept at the rollback: only what changed since is embedded again.
  await runBackfill(db, { source, profiles: [candidate] });
  step(
    `second attempt ${started.id}: ${candidate.name} now fails ${INJECTED_ERROR_RATE * 100}% of its queries (injected); the controller takes it from here`,
  );
  const router = await new Router(db, manifest, source, {
    defaultProfile: input.migration.control,
    metrics: { windowMs: 1000 },
    pollMs: 100,
    hotDocuments: false,
    breaker: budgets.breaker,
    searchDeadlineMs: budgets.searchDeadlineMs,
    shadow: { timeoutMs: budgets.shadowTimeoutMs },
    embedderOptions: {
      provider: slowQueries(input.queryDelayMs, { [candidate.name]: { errorRate: INJECTED_ERROR_RATE } }),
    },
  }).start();
  const load = new Traffic(
    router,
    dataset.queries.map((q) => q.text),
    candidate.name,
  );
  let driven: Awaited<ReturnType<typeof driveByTraffic>>;
  try {
    driven = await driveByTraffic({
      controller: new Controller({ db, manifest, source, rollout, migrationId: started.id, windowsByTick: true }),
      router,
      traffic: load,
      rollout,
      onTick: (t) => {
        if (t.tick.decision === 'hold') return;
        step(tickLine(t));
      },
    });
  } finally {
    await router.close();
  }
  const last = driven.last;
  const fallbacks = load.fallbacks;
  const rollback = last && last.tick.decision === 'rollback' ? demoTick(last) : null;
  const gate = rollback ? (/^gate (\S+)/.exec(rollback.reason)?.[1] ?? null) : null;
  if (!rollback)
    throw new ReembedError(
      'DEMO_ROLLOUT_FAILED',
      `the controller did not roll back the failing candidate: ${last ? `${last.tick.decision}: ${last.tick.reason}` : 'no decision'}${driven.exhausted ? `; ${driven.exhausted}` : ''}`,
    );
  step(
    `the controller rolled back by itself at canary ${rollback.percent}% (gate ${gate}); ${fallbacks} failed candidate searches were answered by ${input.migration.control}`,
  );
  return {
    migrationId: started.id,
    injectedErrorRate: INJECTED_ERROR_RATE,
    rollback,
    gate,
    fallbacks,
    history: await listEvents(db, started.id),
  };
}
