import type { Command } from 'commander';
import { runDemo } from '../demo/demo.js';
import { createProgress, type Progress } from './progress.js';
import { CliContext } from './context.js';
import { fixed, table } from './format.js';
import { positiveInt } from './options.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the guided tour on a throwaway embedded database: generate a corpus with known answers, backfill a baseline\n' +
        'hash profile, plan and start a migration to a candidate, backfill it with progress, change documents while\n' +
        'both capture, verify both stores, compare Recall@10/nDCG@10/MRR@10, shadow-compare results, ramp the canary\n' +
        '5 → 25 → 50 → 100 with many subjects, cut over, drill a rollback and print the audit history\n' +
        '(no network, no model files)',
    )
    .option('--documents <n>', 'documents to generate', positiveInt, 2400)
    .option('--queries <n>', 'queries to generate', positiveInt, 240)
    .option('--seed <n>', 'random seed of the corpus', positiveInt, 42)
    .action(async (opts: { documents: number; queries: number; seed: number }, command: Command) => {
      const ctx = new CliContext(command);
      const bars = new Map<string, Progress>();
      const result = await runDemo({
        // Only an explicit --db moves the demo out of its throwaway in-memory database.
        database: ctx.options.db,
        documents: opts.documents,
        queries: opts.queries,
        seed: opts.seed,
        reporter: {
          step: (m) => ctx.info(`• ${m}`),
          progress: (label, done, total) => {
            let bar = bars.get(label);
            if (!bar) bars.set(label, (bar = createProgress(label, { quiet: ctx.options.quiet })));
            bar.update(done, total);
          },
          progressDone: (label) => bars.get(label)?.finish(),
        },
      });
      ctx.result(result, () => {
        const r = result.rollout;
        return [
          `reembed demo: ${result.documents} documents, ${result.queries} queries (seed ${result.seed}) on ${result.database}`,
          '',
          'offline evaluation (exact search, k=10):',
          table(
            ['profile', 'dims', 'Recall@10', 'nDCG@10', 'MRR@10', 'docs/s', 'query p50 ms'],
            result.profiles.map((p) => [
              p.profile,
              p.dims,
              fixed(p.recallAt10),
              fixed(p.ndcgAt10),
              fixed(p.mrrAt10),
              p.documentsPerSecond.toFixed(0),
              p.queryLatencyP50Ms.toFixed(1),
            ]),
          ),
          '',
          `verify: ${result.verify.map((v) => `${v.profile} ${v.ok ? 'passed' : 'FAILED'} (${(v.coverage * 100).toFixed(1)}% current)`).join(', ')}`,
          `shadow: overlap@10 ${fixed(r.shadow.meanOverlapAt10)}, RBO ${fixed(r.shadow.meanRbo)}, top-1 agreement ${(r.shadow.top1Agreement * 100).toFixed(1)}% over ${r.shadow.compared} searches`,
          '',
          `rollout of migration ${r.migrationId}:`,
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
          table(
            ['at', 'actor', 'action', 'from', 'to', 'reason'],
            r.history.map((e) => [
              e.at,
              e.actor,
              e.action,
              e.fromPhase ? `${e.fromPhase} ${e.fromPercent}%` : null,
              `${e.toPhase} ${e.toPercent}%`,
              e.reason,
            ]),
          ),
        ].join('\n');
      });
    });
}
