import { percentile } from '../../eval/latency.js';
import { evaluateRankings, type RetrievalSummary } from '../../eval/metrics.js';
import { ReembedError } from '../../errors.js';
import { open, type MigrationEvent, type Reembed } from '../../reembed.js';
import type { DemoReporter } from '../demo.js';
import { buildCatalogue, DEFAULT_CATALOGUE_SIZE, type FontRecord } from './catalogue.js';
import { FONT_CATEGORIES, type FontCategory } from './category.js';
import { cutoverGates, JIT_MIN_ITEMS, type FontGate, type GateBudgets } from './gates.js';
import { CANDIDATE_INPUTS, CANDIDATE_PROFILE, CONTROL_PROFILE, FONTS_SOURCE_TABLE, fontsManifest } from './manifest.js';
import { fontQuerySet, type FontQuerySet } from './queries.js';
import { renderGlyph } from './render.js';
import { searchPass, subjectsServedBy, type SearchPass } from './searches.js';
import { createFontTable, writeFonts, type FontRow } from './table.js';

export interface FontStoryOptions {
  /** A database target; a throwaway in-memory embedded database by default. */
  database?: string;
  /** Fonts in the catalogue (default 200). */
  fonts?: number;
  /** The share of subjects the canary serves with the candidate (default 25). */
  canaryPercent?: number;
  /** The share of fonts the candidate has embedded when the canary begins (default 0.5). */
  backfilledAtCanary?: number;
  /**
   * Store one font's glyph broken (a PNG signature and no image), as a failed rendering would:
   * the candidate dead-letters it with its reason and the story repairs it (default true).
   */
  brokenGlyph?: boolean;
  /** The latency and JIT gates' budgets (default: the runbook's, 1 s and 5 minutes). */
  budgets?: GateBudgets;
  reporter?: DemoReporter;
}

/** One profile on the fixed query set, searched through the serving path. */
export interface FontProfileEval extends RetrievalSummary {
  profile: string;
  dims: number;
  searches: number;
  /** embed + search of each search (`latencyMs.total`), ms. */
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export interface FontStoryResult {
  database: string;
  table: string;
  fonts: { count: number; categories: Record<FontCategory, number>; glyphBytes: number; renderSeconds: number };
  queries: { count: number; unanswered: string[] };
  /** What the candidate embeds: its text template and its image column. */
  candidateInputs: { text: string; image: string };
  migrationId: string;
  canary: {
    percent: number;
    /** The candidate's coverage when the canary began (the rest comes by JIT and the backfill). */
    coverageAtStart: number;
    searches: number;
    servedByCandidate: number;
  };
  /** The glyph stored broken: its dead letter, and the repair (re-render, retry) that embedded it. */
  renderingFailure: { font: string; errorClass: string; message: string; repaired: boolean } | null;
  jit: {
    /**
     * Fonts the searches served by the control asked the candidate's queue for, at high priority
     * (a font returned by many searches is asked for many times and queued once).
     */
    requested: number;
    /** The candidate's queue depth when the worker began, and after it. */
    queueDepthBefore: number;
    queueDepthAfter: number;
    /** Just-in-time requests waiting when the worker began, and after it (`status`). */
    waitingBefore: number;
    waitingAfter: number;
    /** Rows the worker embedded, and how long it ran. */
    embedded: number;
    seconds: number;
    itemsPerMinute: number;
    /** Just-in-time requests completed (`status`, last 5 minutes), and their time from request to embedding. */
    completed: number;
    timeToEmbedMs: { p50: number; p95: number; max: number } | null;
  };
  gates: FontGate[];
  /** The final evaluation: both profiles on the fixed query set. */
  evaluation: { control: FontProfileEval; candidate: FontProfileEval };
  cutover: { done: boolean; searches: number; servedByCandidate: number };
  rollback: { searches: number; servedByControl: number; phase: string };
  history: MigrationEvent[];
  /** The story's expectations held: every gate passed, the cutover served the candidate, the rollback the control. */
  ok: boolean;
}

/** A PNG signature followed by bytes that are no image: what a rendering cut short stores. */
const BROKEN_PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('IHDR?')]);

/**
 * The runbook's named risk, rendering failures: the broken glyph is in the candidate's dead
 * letters with its reason; rendering it again (an UPDATE of the glyph, which capture queues)
 * and retrying the dead letter embeds it.
 */
async function repairGlyph(
  reembed: Reembed,
  row: FontRow,
  reporter: DemoReporter,
): Promise<NonNullable<FontStoryResult['renderingFailure']>> {
  const { failures } = await reembed.failures.list({ profile: CANDIDATE_PROFILE });
  const failure = failures.find((f) => f.docId === row.font.id);
  if (!failure) {
    return { font: row.font.id, errorClass: '', message: 'the broken glyph was not dead-lettered', repaired: false };
  }
  reporter.step(`dead letter: ${row.font.name} (${failure.errorClass}: ${failure.message})`);
  await writeFonts(reembed.db, FONTS_SOURCE_TABLE, [row]);
  await reembed.failures.retry({ profile: CANDIDATE_PROFILE, ids: [row.font.id] });
  await reembed.backfill.work({ profiles: [CANDIDATE_PROFILE], drain: true });
  const left = await reembed.failures.list({ profile: CANDIDATE_PROFILE });
  const repaired = left.total === 0 && (await reembed.backfill.coverage(CANDIDATE_PROFILE)).ratio === 1;
  reporter.step(`re-rendered the glyph of ${row.font.name} and retried it: ${repaired ? 'embedded' : 'STILL FAILING'}`);
  return { font: row.font.id, errorClass: failure.errorClass, message: failure.message, repaired };
}

const silent: DemoReporter = { step() {}, progress() {}, progressDone() {} };
const SUBJECTS_PER_SIDE = 4;
const MAX_JIT_ROUNDS = 10;

function profileEval(reembed: Reembed, profile: string, qs: FontQuerySet, passes: SearchPass[]): FontProfileEval {
  const latencies = passes.flatMap((p) => p.latenciesMs);
  return {
    profile,
    dims: reembed.profiles.get(profile).dims,
    searches: latencies.length,
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
    ...evaluateRankings(passes[0]!.rankings, qs.qrels).summary,
  };
}

const served = (passes: SearchPass[], profile: string) =>
  passes.reduce((n, p) => n + (p.servedBy.get(profile) ?? 0), 0);
const searches = (passes: SearchPass[]) => passes.reduce((n, p) => n + p.latenciesMs.length, 0);

async function candidateStatus(reembed: Reembed) {
  const status = await reembed.status();
  return status.profiles.find((p) => p.profile === CANDIDATE_PROFILE)!;
}

/**
 * The font-search story of issue #13: ~200 installed fonts with their glyph images in an
 * attach-mode table, served by a text-only profile; a migration to a 4,096-dim candidate
 * (exact search) that starts its canary half backfilled, so the searches the control serves
 * queue the fonts the candidate lacks (just in time) and a worker embeds them; the runbook's
 * cutover gates; the cutover; a rollback to the text profile; the final evaluation on a fixed
 * query set with known answers. Everything goes through the facade, as an application would.
 */
export async function runFontStory(options: FontStoryOptions = {}): Promise<FontStoryResult> {
  const reporter = options.reporter ?? silent;
  const canaryPercent = options.canaryPercent ?? 25;
  const fonts = buildCatalogue({ size: options.fonts ?? DEFAULT_CATALOGUE_SIZE });
  const qs = fontQuerySet(fonts);
  const categories = Object.fromEntries(
    FONT_CATEGORIES.map((c) => [c, fonts.filter((f) => f.category === c).length]),
  ) as Record<FontCategory, number>;

  const rendering = performance.now();
  const rows = fonts.map((font: FontRecord) => ({ font, glyph: renderGlyph(font.file) }));
  const renderSeconds = (performance.now() - rendering) / 1000;
  const glyphBytes = rows.reduce((n, r) => n + r.glyph.length, 0);
  // The font whose rendering "failed": one a quarter of the way in, which the candidate's first
  // (partial) backfill reaches, so it is a dead letter before the canary's searches begin.
  const broken = options.brokenGlyph === false ? null : rows[Math.floor(rows.length / 4)]!;
  const stored = rows.map((r) => (r === broken ? { font: r.font, glyph: BROKEN_PNG } : r));
  reporter.step(
    `catalogue: ${fonts.length} installed fonts (${FONT_CATEGORIES.map((c) => `${categories[c]} ${c}`).join(', ')}), each rendered to a "Aa Bb Gg 0123" glyph PNG in ${renderSeconds.toFixed(1)} s (${(glyphBytes / 1024).toFixed(0)} KiB); ${qs.queries.length} fixed queries with known answers`,
  );

  const reembed = await open({
    config: fontsManifest(),
    db: options.database ?? 'memory://',
    env: { REEMBED_ENV: 'development' },
    actor: 'demo',
    router: { lazy: true },
  });
  try {
    await reembed.schema();
    if ((await createFontTable(reembed.db, FONTS_SOURCE_TABLE)) > 0) {
      throw new ReembedError(
        'DEMO_NEEDS_EMPTY_DATABASE',
        `the font story needs a database without fonts in ${FONTS_SOURCE_TABLE}, and ${reembed.databaseTarget} has some`,
        { exitCode: 2 },
      );
    }
    await writeFonts(reembed.db, FONTS_SOURCE_TABLE, stored);
    reporter.step(
      `loaded ${rows.length} fonts into ${FONTS_SOURCE_TABLE} (attach mode; the glyph is a bytea column)${broken ? `, the glyph of ${broken.font.name} broken as a failed rendering leaves it` : ''}`,
    );

    // The text profile serves first.
    const control = await reembed.backfill.run(CONTROL_PROFILE, { index: true });
    reporter.step(`backfilled ${CONTROL_PROFILE}: ${control.embedded} fonts in ${control.seconds.toFixed(1)} s`);
    const controlPasses = [await searchPass(reembed, qs.queries, null)];
    const controlEval = profileEval(reembed, CONTROL_PROFILE, qs, controlPasses);
    reporter.step(
      `${CONTROL_PROFILE} on the fixed queries: nDCG@10 ${controlEval.ndcgAt10.toFixed(3)}, p95 ${controlEval.latencyP95Ms.toFixed(1)} ms`,
    );

    // The migration: the candidate starts its canary half backfilled.
    const { migration: planned, estimate } = await reembed.migration.plan(CANDIDATE_PROFILE, CONTROL_PROFILE);
    reporter.step(
      `planned migration ${planned.id}: ${CONTROL_PROFILE} (text "{name}") → ${CANDIDATE_PROFILE} (text "${CANDIDATE_INPUTS.text}" + image ${CANDIDATE_INPUTS.image}, ${reembed.profiles.get(CANDIDATE_PROFILE).dims} dims, index ${estimate.index})`,
    );
    await reembed.migration.start({ id: planned.id });
    const partial = Math.floor(fonts.length * (options.backfilledAtCanary ?? 0.5));
    await reembed.backfill.run(CANDIDATE_PROFILE, { limit: partial });
    await reembed.migration.shadow(0, { id: planned.id });
    const coverageAtStart = (await reembed.backfill.coverage(CANDIDATE_PROFILE)).ratio;
    await reembed.migration.ramp(
      canaryPercent,
      {
        force: true,
        reason: 'font story: the canary begins half backfilled; the rest comes just in time and by the backfill',
      },
      { id: planned.id },
    );
    await reembed.router.refresh();
    reporter.step(
      `canary ${canaryPercent}% with the candidate at ${(coverageAtStart * 100).toFixed(0)}% coverage (forced, with a reason in the audit log)`,
    );

    // Just in time: what the control serves, the candidate queues.
    const toControl = await subjectsServedBy(reembed, false, SUBJECTS_PER_SIDE);
    const toCandidate = await subjectsServedBy(reembed, true, SUBJECTS_PER_SIDE);
    const canaryPasses: SearchPass[] = [];
    for (let round = 0; round < MAX_JIT_ROUNDS; round++) {
      for (const subject of [...toControl, ...toCandidate])
        canaryPasses.push(await searchPass(reembed, qs.queries, subject));
      if (reembed.router.stats.hotDocumentsQueued >= JIT_MIN_ITEMS) break;
    }
    const before = await candidateStatus(reembed);
    const jitStarted = performance.now();
    const workers = await reembed.backfill.work({
      profiles: [CANDIDATE_PROFILE],
      drain: true,
      limit: Math.max(before.queued, 1),
    });
    const jitSeconds = (performance.now() - jitStarted) / 1000;
    const jitEmbedded = workers.reduce((n, w) => n + w.rowsEmbedded, 0);
    const after = await candidateStatus(reembed);
    const jit = {
      requested: reembed.router.stats.hotDocumentsQueued,
      queueDepthBefore: before.queued,
      queueDepthAfter: after.queued,
      waitingBefore: before.jit.pending,
      waitingAfter: after.jit.pending,
      embedded: jitEmbedded,
      seconds: jitSeconds,
      itemsPerMinute: jitEmbedded / Math.max(jitSeconds / 60, 1e-9),
      completed: after.jit.completed,
      timeToEmbedMs: after.jit.timeToEmbedMs,
    };
    const waited = jit.timeToEmbedMs
      ? `; time from request to embedding p50 ${(jit.timeToEmbedMs.p50 / 1000).toFixed(2)} s, max ${(jit.timeToEmbedMs.max / 1000).toFixed(2)} s`
      : '';
    reporter.step(
      `just in time: ${searches(canaryPasses)} canary searches (${served(canaryPasses, CANDIDATE_PROFILE)} served by the candidate) asked for ${jit.requested} fonts the candidate lacked; waiting ${jit.waitingBefore} → ${jit.waitingAfter} (queue depth ${jit.queueDepthBefore} → ${jit.queueDepthAfter}), ${jit.completed} requests embedded by a worker in ${jit.seconds.toFixed(2)} s (${jit.itemsPerMinute.toFixed(0)} rows/min${waited})`,
    );

    // The rest by the backfill, then the gates.
    const rest = await reembed.backfill.run(CANDIDATE_PROFILE);
    reporter.step(
      `backfill finished: ${rest.embedded} more fonts, coverage ${(rest.coverage.ratio * 100).toFixed(1)}%`,
    );
    const renderingFailure = broken ? await repairGlyph(reembed, broken, reporter) : null;
    const candidatePasses = [];
    for (const subject of toCandidate) candidatePasses.push(await searchPass(reembed, qs.queries, subject));
    const candidateEval = profileEval(reembed, CANDIDATE_PROFILE, qs, candidatePasses);
    const verify = await reembed.verify({ profile: CANDIDATE_PROFILE });
    const failures = await reembed.failures.list({ profile: CANDIDATE_PROFILE });
    const gates = cutoverGates(
      {
        coverage: (await reembed.backfill.coverage(CANDIDATE_PROFILE)).ratio,
        deadLetters: failures.total,
        verifyFailedChecks: verify.checks.filter((c) => !c.ok).length,
        // The runbook's "at least 10 items in under 5 minutes": requests completed, and the
        // longest any of them waited from the search that asked for it.
        jit: { items: jit.completed, seconds: (jit.timeToEmbedMs?.max ?? Number.POSITIVE_INFINITY) / 1000 },
        candidateP95Ms: candidateEval.latencyP95Ms,
        offline: { control: controlEval, candidate: candidateEval },
      },
      options.budgets,
    );
    const gatesPass = gates.every((g) => g.ok);
    reporter.step(`cutover gates: ${gates.map((g) => `${g.name} ${g.ok ? 'pass' : 'FAIL'}`).join(', ')}`);

    // The cutover (when the gates pass), then the rollback drill back to the text profile.
    const everyone = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const cutoverPasses: SearchPass[] = [];
    if (gatesPass) {
      await reembed.migration.cutover({}, { id: planned.id });
      await reembed.router.refresh();
      for (const subject of everyone) cutoverPasses.push(await searchPass(reembed, qs.queries.slice(0, 3), subject));
      reporter.step(
        `cutover: ${served(cutoverPasses, CANDIDATE_PROFILE)} of ${searches(cutoverPasses)} searches served by ${CANDIDATE_PROFILE}`,
      );
    }
    const rolledBack = await reembed.migration.rollback(
      gatesPass
        ? 'font story: rollback drill, the text profile serves again'
        : `font story: cutover gates failed (${gates
            .filter((g) => !g.ok)
            .map((g) => g.name)
            .join(', ')})`,
      { id: planned.id },
    );
    await reembed.router.refresh();
    const rollbackPasses: SearchPass[] = [];
    for (const subject of everyone) rollbackPasses.push(await searchPass(reembed, qs.queries.slice(0, 3), subject));
    reporter.step(
      `rolled back: ${served(rollbackPasses, CONTROL_PROFILE)} of ${searches(rollbackPasses)} searches served by ${CONTROL_PROFILE}`,
    );

    const cutover = {
      done: gatesPass,
      searches: searches(cutoverPasses),
      servedByCandidate: served(cutoverPasses, CANDIDATE_PROFILE),
    };
    const rollback = {
      searches: searches(rollbackPasses),
      servedByControl: served(rollbackPasses, CONTROL_PROFILE),
      phase: rolledBack.phase,
    };
    return {
      database: reembed.databaseTarget,
      table: FONTS_SOURCE_TABLE,
      fonts: { count: fonts.length, categories, glyphBytes, renderSeconds },
      queries: { count: qs.queries.length, unanswered: qs.unanswered },
      candidateInputs: { ...CANDIDATE_INPUTS },
      migrationId: planned.id,
      canary: {
        percent: canaryPercent,
        coverageAtStart,
        searches: searches(canaryPasses),
        servedByCandidate: served(canaryPasses, CANDIDATE_PROFILE),
      },
      renderingFailure,
      jit,
      gates,
      evaluation: { control: controlEval, candidate: candidateEval },
      cutover,
      rollback,
      history: await reembed.migration.history(planned.id),
      ok:
        gatesPass &&
        cutover.searches > 0 &&
        cutover.servedByCandidate === cutover.searches &&
        rollback.servedByControl === rollback.searches &&
        rollback.phase === 'rolled_back' &&
        (renderingFailure === null || renderingFailure.repaired),
    };
  } finally {
    await reembed.close();
  }
}
