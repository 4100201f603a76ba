import type { FontStoryResult } from '../demo/fonts/story.js';
import { fixed, table } from './format.js';

const METRICS = ['recallAt5', 'recallAt10', 'ndcgAt10', 'mrrAt10', 'containAt50'] as const;

/** What `reembed demo --story fonts` prints without --json. */
export function formatFontStory(result: FontStoryResult): string {
  const { control, candidate } = result.evaluation;
  const delta = (x: number) => `${x >= 0 ? '+' : ''}${fixed(x)}`;
  const j = result.jit;
  return [
    `reembed demo --story fonts: ${result.fonts.count} fonts (${Object.entries(result.fonts.categories)
      .map(([c, n]) => `${n} ${c}`)
      .join(', ')}), ${result.queries.count} fixed queries, on ${result.database}`,
    `candidate inputs: text "${result.candidateInputs.text}", image ${result.candidateInputs.image}`,
    result.renderingFailure
      ? `rendering failure: ${result.renderingFailure.font} dead-lettered (${result.renderingFailure.errorClass}: ${result.renderingFailure.message}), ${result.renderingFailure.repaired ? 're-rendered, retried and embedded' : 'NOT repaired'}`
      : 'rendering failure: none staged',
    '',
    `canary ${result.canary.percent}% from ${(result.canary.coverageAtStart * 100).toFixed(0)}% coverage: ${result.canary.searches} searches, ${result.canary.servedByCandidate} served by the candidate`,
    `just in time: ${j.requested} fonts asked for by searches the control served; ${j.waitingBefore} waiting → ${j.waitingAfter}; ${j.completed} embedded by a worker in ${j.seconds.toFixed(2)} s` +
      (j.timeToEmbedMs
        ? `; from request to embedding p50 ${(j.timeToEmbedMs.p50 / 1000).toFixed(2)} s, p95 ${(j.timeToEmbedMs.p95 / 1000).toFixed(2)} s`
        : ''),
    '',
    'cutover gates (the runbook’s):',
    table(
      ['gate', 'value', 'condition', 'result'],
      result.gates.map((g) => [g.name, fixed(g.value), g.condition, g.ok ? 'pass' : 'FAIL']),
    ),
    '',
    result.cutover.done
      ? `cutover: ${result.cutover.servedByCandidate}/${result.cutover.searches} searches served by ${candidate.profile}`
      : 'cutover: NOT done (a gate failed)',
    `rollback (${result.rollback.phase}): ${result.rollback.servedByControl}/${result.rollback.searches} searches served by ${control.profile}`,
    '',
    'final evaluation on the fixed query set (exact search, k=50):',
    table(
      ['profile', 'dims', 'Recall@5', 'Recall@10', 'nDCG@10', 'MRR@10', 'Contain@50', 'p95 ms'],
      [
        ...[control, candidate].map((p) => [
          p.profile,
          p.dims,
          ...METRICS.map((m) => fixed(p[m])),
          p.latencyP95Ms.toFixed(1),
        ]),
        [`Δ`, null, ...METRICS.map((m) => delta(candidate[m] - control[m])), null],
      ],
    ),
    '',
    'audit history:',
    table(
      ['at', 'actor', 'action', 'to', 'reason'],
      result.history.map((e) => [e.at, e.actor, e.action, `${e.toPhase} ${e.toPercent}%`, e.reason]),
    ),
    '',
    result.ok ? 'the story’s expectations held' : 'the story’s expectations did NOT hold',
  ].join('\n');
}
