import { truncatedPercent } from '../percent.js';
import { InvalidArgumentError, type Command } from 'commander';
import { CliContext } from './context.js';
import { fixed, table } from './format.js';
import { positiveInt } from './options.js';

const STORIES = ['migration', 'fonts'] as const;

interface DemoCliOptions {
  story: (typeof STORIES)[number];
  fonts: number;
  documents: number;
  queries: number;
  seed: number;
}

function storyName(value: string): DemoCliOptions['story'] {
  if ((STORIES as readonly string[]).includes(value)) return value as DemoCliOptions['story'];
  throw new InvalidArgumentError(`--story is one of ${STORIES.join(', ')}`);
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .summary(
      'the guided tour on a throwaway embedded database: backfill, migrate, evaluate, let the controller ramp and roll back',
    )
    .description(
      'The guided tour on a throwaway embedded database: generate a corpus with known answers, backfill a baseline ' +
        'hash profile, plan and start a migration to a candidate, backfill it with progress, change documents while ' +
        'both capture, verify both stores, compare Recall@5/10, nDCG@10, MRR@10 and Contain@50, shadow-compare ' +
        'results, then let the controller ramp the canary 5 → 25 → 50 → 100 by its gates while searches from many ' +
        'subjects flow, drill a rollback, and run a second attempt whose candidate fails 20% of its queries: the ' +
        'controller rolls it back by itself, naming the gate (no network, no model files). --story fonts: the ' +
        'font search moving from a text profile to a 4,096-dim candidate over ~200 installed fonts and their glyph ' +
        'images, with a canary that starts half backfilled (just-in-time embedding), the runbook’s cutover gates, ' +
        'a rollback and the final evaluation on fixed queries (fonts from scripts/setup-fonts.sh)',
    )
    .option(
      '--story <name>',
      'migration (the guided tour) or fonts (text → multimodal font search)',
      storyName,
      'migration',
    )
    .option('--fonts <n>', 'fonts in the font story’s catalogue', positiveInt, 200)
    .option('--documents <n>', 'documents to generate', positiveInt, 2400)
    .option('--queries <n>', 'queries to generate', positiveInt, 240)
    .option('--seed <n>', 'random seed of the corpus', positiveInt, 42)
    .action(async (opts: DemoCliOptions, command: Command) => {
      const ctx = new CliContext(command);
      const reporter = ctx.reporter();
      if (opts.story === 'fonts') {
        const [{ runFontStory }, { formatFontStory }] = await Promise.all([
          import('../demo/fonts/story.js'),
          import('./demo-fonts.js'),
        ]);
        const story = await runFontStory({ database: ctx.options.db, fonts: opts.fonts, reporter });
        ctx.result(story, () => formatFontStory(story));
        if (!story.ok) process.exitCode = 1;
        return;
      }
      const { runDemo } = await import('../demo/demo.js');
      const result = await runDemo({
        // Only an explicit --db moves the demo out of its throwaway in-memory database.
        database: ctx.options.db,
        documents: opts.documents,
        queries: opts.queries,
        seed: opts.seed,
        reporter,
      });
      ctx.result(result, () => {
        const r = result.rollout;
        const [a, b] = result.profiles;
        const metrics = ['recallAt5', 'recallAt10', 'ndcgAt10', 'mrrAt10', 'containAt50'] as const;
        const delta = (x: number) => `${x >= 0 ? '+' : ''}${fixed(x)}`;
        const history = (events: typeof r.history) =>
          table(
            ['at', 'actor', 'action', 'from', 'to', 'reason'],
            events.map((e) => [
              e.at,
              e.actor,
              e.action,
              e.fromPhase ? `${e.fromPhase} ${e.fromPercent}%` : null,
              `${e.toPhase} ${e.toPercent}%`,
              e.reason,
            ]),
          );
        return [
          `reembed demo: ${result.documents} documents, ${result.queries} queries (seed ${result.seed}) on ${result.database}`,
          '',
          'offline evaluation (exact search, k=50) — the evidence of the offline gate:',
          table(
            ['profile', 'dims', 'Recall@5', 'Recall@10', 'nDCG@10', 'MRR@10', 'Contain@50', 'docs/s', 'query p50 ms'],
            [
              ...result.profiles.map((p) => [
                p.profile,
                p.dims,
                ...metrics.map((m) => fixed(p[m])),
                p.documentsPerSecond.toFixed(0),
                p.queryLatencyP50Ms.toFixed(1),
              ]),
              ...(a && b
                ? [[`Δ ${b.profile} − ${a.profile}`, null, ...metrics.map((m) => delta(b[m] - a[m])), null, null]]
                : []),
            ],
          ),
          '',
          `verify: ${result.verify.map((v) => `${v.profile} ${v.ok ? 'passed' : 'FAILED'} (${truncatedPercent(v.coverage, 1)} current)`).join(', ')}`,
          `shadow: overlap@10 ${fixed(r.shadow.meanOverlapAt10)}, RBO ${fixed(r.shadow.meanRbo)}, top-1 agreement ${(r.shadow.top1Agreement * 100).toFixed(1)}% over ${r.shadow.compared} searches`,
          '',
          `rollout of migration ${r.migrationId} by the controller (${r.controller.ticks} evaluations, ${r.controller.seconds.toFixed(1)} s):`,
          table(
            ['step', 'searches', 'served by candidate', 'share'],
            [
              ...r.canary.map((c) => [
                `canary ${c.percent}%`,
                c.searches,
                c.servedByCandidate,
                `${(c.share * 100).toFixed(1)}%`,
              ]),
              ['cutover', r.cutover.searches, r.cutover.servedByCandidate, `${r.cutover.servedByCandidate}%`],
              [
                'rollback drill',
                r.rollback.searches,
                r.rollback.searches - r.rollback.servedByControl,
                `${r.rollback.searches - r.rollback.servedByControl}%`,
              ],
            ],
          ),
          '',
          'audit history:',
          history(r.history),
          '',
          `second attempt ${r.failing.migrationId}, the candidate failing ${r.failing.injectedErrorRate * 100}% of its queries:`,
          r.failing.rollback
            ? `rolled back by the controller at canary ${r.failing.rollback.percent}%: ${r.failing.rollback.reason}`
            : 'NOT rolled back by the controller',
          history(r.failing.history),
        ].join('\n');
      });
    });
}
