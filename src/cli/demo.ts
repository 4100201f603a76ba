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
        'and a candidate hash profile with progress, change documents while both capture, verify both stores, and\n' +
        'print Recall@10, nDCG@10 and MRR@10 of each (no network, no model files)',
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
      ctx.result(result, () =>
        [
          `reembed demo: ${result.documents} documents, ${result.queries} queries (seed ${result.seed}) on ${result.database}`,
          `verify: ${result.verify.map((v) => `${v.profile} ${v.ok ? 'passed' : 'FAILED'} (${(v.coverage * 100).toFixed(1)}% current)`).join(', ')}`,
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
        ].join('\n'),
      );
    });
}
