/**
 * The font-search story end to end, on both databases: the fonts this machine has
 * (scripts/setup-fonts.sh), their glyphs in an attach-mode table, the migration from the text
 * profile to the multimodal candidate with just-in-time embedding during the canary, the
 * runbook's gates, the cutover, the rollback and the final evaluation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFontStory, type FontStoryResult } from '../../../src/demo/fonts/story.js';
import { CANDIDATE_DIMS, CANDIDATE_PROFILE, CONTROL_PROFILE } from '../../../src/demo/fonts/manifest.js';
import { FONT_QUERIES } from '../../../src/demo/fonts/queries.js';
import { JIT_MIN_ITEMS } from '../../../src/demo/fonts/gates.js';
import { ReembedError } from '../../../src/errors.js';
import { BACKENDS, createServerDatabase } from '../../helpers/databases.js';
import { scaled } from '../../helpers/slowdown.js';

describe.each(BACKENDS)('reembed demo --story fonts on %s', (backend) => {
  let target: string | undefined;
  let drop = async () => {};
  let result: FontStoryResult;
  const steps: string[] = [];

  beforeAll(async () => {
    if (backend === 'postgres') ({ url: target, drop } = await createServerDatabase());
    result = await runFontStory({
      database: target,
      // The runbook's time budgets, as deadlines that scale with a slower machine.
      budgets: { p95Ms: scaled(1000), jitSeconds: scaled(300) },
      reporter: { step: (m) => steps.push(m), progress() {}, progressDone() {} },
    });
  });
  afterAll(() => drop());

  it('holds its expectations: every gate passes, the cutover serves the candidate, the rollback the control', () => {
    expect(result.ok).toBe(true);
    expect(result.gates.map((g) => [g.name, g.ok])).toEqual([
      ['coverage', true],
      ['dead-letters', true],
      ['verify', true],
      ['jit-worker', true],
      ['latency-p95', true],
      ['offline-ndcg@10', true],
    ]);
    expect(result.cutover.done).toBe(true);
    expect(result.cutover.searches).toBeGreaterThan(0);
    expect(result.cutover.servedByCandidate).toBe(result.cutover.searches);
    expect(result.rollback.phase).toBe('rolled_back');
    expect(result.rollback.servedByControl).toBe(result.rollback.searches);
    expect(result.history.map((e) => e.action)).toEqual(['plan', 'start', 'shadow', 'ramp', 'cutover', 'rollback']);
    expect(result.history.find((e) => e.action === 'ramp')!.reason).toMatch(/half backfilled/);
  });

  it('serves the canary from a half-backfilled candidate and embeds what searches asked for just in time', () => {
    expect(result.canary.coverageAtStart).toBe(0.5);
    expect(result.canary.servedByCandidate).toBeGreaterThan(0);
    expect(result.canary.servedByCandidate).toBeLessThan(result.canary.searches);
    expect(result.jit.requested).toBeGreaterThanOrEqual(JIT_MIN_ITEMS);
    expect(result.jit.queueDepthBefore).toBeGreaterThanOrEqual(JIT_MIN_ITEMS);
    expect(result.jit.queueDepthAfter).toBe(0);
    // Every queued font embedded (the broken glyph, should a search have asked for it, fails instead).
    expect(result.jit.embedded).toBeGreaterThanOrEqual(result.jit.queueDepthBefore - 1);
    // status saw them as just-in-time requests: waiting, then completed with their wait.
    expect(result.jit.waitingBefore).toBeGreaterThanOrEqual(JIT_MIN_ITEMS);
    expect(result.jit.waitingAfter).toBe(0);
    expect(result.jit.completed).toBeGreaterThanOrEqual(result.jit.waitingBefore - 1);
    expect(result.jit.timeToEmbedMs!.max).toBeGreaterThanOrEqual(result.jit.timeToEmbedMs!.p50);
  });

  it('dead-letters the broken glyph with its reason, then embeds it once re-rendered', () => {
    expect(result.renderingFailure).toMatchObject({ errorClass: 'IMAGE_INVALID', repaired: true });
    expect(result.renderingFailure!.message).toMatch(/decode/);
    expect(steps).toContainEqual(expect.stringMatching(/^dead letter: /));
  });

  it('evaluates both profiles on every fixed query, the candidate over its glyphs in 4,096 dims', () => {
    const { control, candidate } = result.evaluation;
    expect(result.fonts.count).toBe(200);
    expect(result.queries).toEqual({ count: FONT_QUERIES.length, unanswered: [] });
    expect(result.candidateInputs.image).toBe('{glyph}');
    expect(control).toMatchObject({ profile: CONTROL_PROFILE, judgedQueries: FONT_QUERIES.length });
    expect(candidate).toMatchObject({
      profile: CANDIDATE_PROFILE,
      dims: CANDIDATE_DIMS,
      judgedQueries: FONT_QUERIES.length,
    });
    // The candidate reads category and tags beside the name: it finds more of the right fonts.
    expect(candidate.ndcgAt10).toBeGreaterThan(control.ndcgAt10);
    for (const p of [control, candidate]) {
      expect(p.latencyP95Ms).toBeGreaterThan(0);
      expect(p.ndcgAt10).toBeGreaterThan(0);
      expect(p.ndcgAt10).toBeLessThanOrEqual(1);
    }
  });

  if (backend === 'postgres') {
    it('refuses a database that has the story’s fonts already', async () => {
      const again = runFontStory({ database: target });
      await expect(again).rejects.toBeInstanceOf(ReembedError);
      await expect(again).rejects.toMatchObject({ code: 'DEMO_NEEDS_EMPTY_DATABASE' });
    });
  }
});
