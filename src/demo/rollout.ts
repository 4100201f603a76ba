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
import { injectFaults } from './fault-injection.js';
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
  step: (message: string) => void;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The demo's rollout: the runbook's kinds of gates with windows short enough for a demo. The
 * candidate has four times the dimensions of the control, and at the demo's size PostgreSQL
 * scans every row instead of using the index, so its searches cost about 4x the control's
 * (measured 17.8 ms vs 4.3 ms p50): the latency gate allows 10x the control's p95 under an
 * absolute budget of 250 ms, where the runbook default is 1.15x for like-for-like models.
 */
export function demoRollout(evalHistory: string): RolloutConfig {
  const problems: string[] = [];
  // At 5% the candidate sees about 10 searches a second of the demo's traffic. 30 samples
  // before a verdict: with 10, a candidate failing 20% of its searches passed a window without
  // an error one time in ten (0.8^10) and was promoted; with 30, one time in 800.
  const online = { interval: '5s', min_samples: 30, failure_limit: 3, consecutive_limit: 2 };
  const rollout = parseRollout(
    {
      steps: [5, 25, 50, 100],
      interval: '500ms',
      step_min_duration: '3s',
      step_min_requests: 10,
      eval_history: evalHistory,
      gates: [
        { name: 'coverage', metric: 'coverage', min: 1 },
        { name: 'verify', metric: 'verify.failed_checks', max: 0, interval: '5s' },
        { name: 'offline-recall5', metric: 'offline.recall@5', max_decrease: 0.02 },
        { name: 'error-rate', metric: 'online.error_rate', max_increase: 0.002, ...online },
        { name: 'latency-p95', metric: 'online.latency_p95_ms', max_ratio: 10, max: 250, ...online },
        {
          name: 'breaker-trips',
          metric: 'online.breaker_opens',
          max: 0,
          interval: '3s',
          min_samples: 1,
          failure_limit: 1,
        },
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

function demoTick(t: TickReport): DemoTick {
  return {
    at: t.tick.at,
    phase: t.tick.phase,
    percent: t.tick.percent,
    decision: t.tick.decision,
    reason: t.tick.reason,
  };
}

/** Searches from ever new subjects until stopped, counting what served each step. */
function traffic(router: Router, queries: string[], candidate: string) {
  let running = true;
  let fallbacks = 0;
  const steps = new Map<number, { searches: number; servedByCandidate: number; assignedToCandidate: number }>();
  const loop = (async () => {
    for (let i = 0; running; i++) {
      // The embedded database answers in microtasks: yield, so the controller's timers still run.
      await new Promise((r) => setImmediate(r));
      const subject = `user-${i}`;
      const res = await router.search(queries[i % queries.length]!, { subject });
      if (res.fallback) fallbacks++;
      if (res.migration?.phase !== 'canary') continue;
      const { id, percent } = res.migration;
      let s = steps.get(percent);
      if (!s) steps.set(percent, (s = { searches: 0, servedByCandidate: 0, assignedToCandidate: 0 }));
      s.searches++;
      if (res.profile === candidate) s.servedByCandidate++;
      if (inCanary(id, subject, percent)) s.assignedToCandidate++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { steps, fallbacks };
    },
  };
}

/**
 * The serving half of the story: shadow reads with overlap figures, then the controller ramps
 * 5 → 25 → 50 → 100 by itself while searches from many subjects flow, a rollback drill, and a
 * second attempt whose candidate fails queries, which the controller rolls back, naming the gate.
 */
export async function rolloutStory(input: RolloutInput): Promise<RolloutResult> {
  const { db, manifest, source, dataset, step } = input;
  const ctx: LifecycleContext = { db, manifest, source, actor: 'demo', backfill: backfillPlanner };
  const control = manifest.profiles.get(input.migration.control)!;
  const candidate = manifest.profiles.get(input.migration.candidate)!;
  const dir = mkdtempSync(join(tmpdir(), 'reembed-demo-'));
  const historyFile = join(dir, 'eval-history.jsonl');
  writeHistory(historyFile, [control, candidate], input.offline, dataset.queries.length);
  const rollout = demoRollout(historyFile);
  const shadows: ShadowEvent[] = [];
  const router = await new Router(db, manifest, source, {
    defaultProfile: control.name,
    shadow: { maxConcurrent: 8, timeoutMs: 5000 },
    onShadow: (e) => shadows.push(e),
    metrics: { windowMs: 250 },
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
    }
    return served;
  };
  try {
    let m = await shadowMigration(ctx, input.migration, 1);
    await router.refresh();
    await searchAll(queries.length, 'shadow-user');
    // Shadow reads never hold up a response; wait for the ones still running before reporting.
    for (let i = 0; i < 200 && shadows.length < queries.length; i++) await new Promise((r) => setTimeout(r, 25));
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
      `controller: steps ${rollout.steps.join(' → ')}%, gates ${rollout.gates.map((g) => g.name).join(', ')}, every ${rollout.interval} ms`,
    );
    const started = performance.now();
    const promotions: DemoTick[] = [];
    let ticks = 0;
    const load = traffic(router, queries, candidate.name);
    let served: Awaited<ReturnType<typeof load.stop>>;
    try {
      await new Controller({ db, manifest, source, rollout, migrationId: m.id }).run({
        signal: AbortSignal.timeout(120_000),
        onTick: (t) => {
          ticks++;
          if (t.tick.decision === 'hold') return;
          promotions.push(demoTick(t));
          const where = t.tick.phase === 'canary' ? `canary ${t.tick.percent}%` : t.tick.phase;
          step(`controller at ${where}: ${t.tick.decision.toUpperCase()} — ${t.tick.reason}`);
        },
      });
    } finally {
      served = await load.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    const reached = promotions.at(-1);
    if (reached?.decision !== 'complete') {
      throw new ReembedError(
        'DEMO_ROLLOUT_FAILED',
        `the controller did not promote the healthy candidate: ${reached ? `${reached.decision}: ${reached.reason}` : 'no decision'}`,
      );
    }
    const canary = [...served.steps.entries()]
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

    const failing = await failingAttempt(input, rollout, ctx, step);
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
    metrics: { windowMs: 250 },
    pollMs: 100,
    hotDocuments: false,
    embedderOptions: {
      provider: injectFaults({ [candidate.name]: { errorRate: INJECTED_ERROR_RATE } }, seededRandom(11)),
    },
  }).start();
  let last: TickReport | null = null;
  const load = traffic(
    router,
    dataset.queries.map((q) => q.text),
    candidate.name,
  );
  let fallbacks = 0;
  try {
    last = await new Controller({ db, manifest, source, rollout, migrationId: started.id }).run({
      signal: AbortSignal.timeout(120_000),
      onTick: (t) => {
        if (t.tick.decision === 'hold') return;
        const where = t.tick.phase === 'canary' ? `canary ${t.tick.percent}%` : t.tick.phase;
        step(`controller at ${where}: ${t.tick.decision.toUpperCase()} — ${t.tick.reason}`);
      },
    });
  } finally {
    fallbacks = (await load.stop()).fallbacks;
    await router.close();
  }
  const rollback = last && last.tick.decision === 'rollback' ? demoTick(last) : null;
  const gate = rollback ? (/^gate (\S+)/.exec(rollback.reason)?.[1] ?? null) : null;
  if (!rollback)
    throw new ReembedError(
      'DEMO_ROLLOUT_FAILED',
      `the controller did not roll back the failing candidate: ${last ? `${last.tick.decision}: ${last.tick.reason}` : 'no decision'}`,
    );
  step(
    rollback
      ? `the controller rolled back by itself at canary ${rollback.percent}% (gate ${gate}); ${fallbacks} failed candidate searches were answered by ${input.migration.control}`
      : `the controller did not roll back: ${last?.tick.reason ?? 'no evaluation'}`,
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
