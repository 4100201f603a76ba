import { InvalidArgumentError, type Command } from 'commander';
import type { RerankStatusReport, RerankTrainReport } from '../reembed.js';
import { CliContext } from './context.js';
import { table } from './format.js';
import { positiveInt, wholeNumber } from './options.js';

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1))
    throw new InvalidArgumentError(`not a fraction from 0 to below 1: ${value}`);
  return n;
}

function statusText(r: RerankStatusReport): string {
  if (r.profiles.length === 0) return 'no profile has a rerank: block';
  return table(
    ['profile', 'provider', 'top_n', 'percent', 'state'],
    r.profiles.map((p) => [p.profile, p.provider, p.topN, p.percent, p.state]),
  );
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}`;
}

function trainText(r: RerankTrainReport): string {
  const lines = [
    `wrote ${r.out}: ${r.examples} candidates of ${r.trainQueries} queries (${r.positives} relevant), seed ${r.seed}, top ${r.topN} of ${r.profile}`,
  ];
  if (r.heldOut) {
    const { before, after, lift } = r.heldOut;
    lines.push(
      `held out ${r.heldOutQueries} queries:`,
      table(
        ['metric', 'retrieval', 'reranked', 'lift (pp)'],
        (['recallAt5', 'mrrAt10', 'ndcgAt10', 'recallAt10'] as const).map((m) => [
          m,
          before[m].toFixed(3),
          after[m].toFixed(3),
          `${lift[m] >= 0 ? '+' : ''}${pct(lift[m])}`,
        ]),
      ),
    );
  }
  return lines.join('\n');
}

export function registerRerank(program: Command): void {
  const rerank = program
    .command('rerank')
    .description(
      "the profiles' rerank stages: the kill switch every instance follows, and training the features reranker",
    );

  rerank
    .command('status')
    .description("each rerank profile's provider, top_n, percent and switch state")
    .action(async (_opts: unknown, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const r = await rb.rerank.status();
        ctx.result(r, () => statusText(r));
      });
    });

  for (const state of ['on', 'off'] as const) {
    rerank
      .command(state)
      .description(
        state === 'off'
          ? 'switch rerank off: every instance serves the retrieval order within a second'
          : 'switch rerank back on (the profile percent decides who is reranked)',
      )
      .option('-p, --profile <name>', 'only this profile (default: every profile)')
      .option('--reason <text>', 'why, kept with the switch')
      .action(async (opts: { profile?: string; reason?: string }, command: Command) => {
        const ctx = new CliContext(command);
        await ctx.withReembed(async (rb) => {
          const r = await rb.rerank.set(state, { profile: opts.profile, reason: opts.reason });
          ctx.result(r, () => `rerank ${state} for ${opts.profile ?? 'every profile'}\n${statusText(r)}`);
        });
      });
  }

  rerank
    .command('train')
    .description("train the features reranker on a BEIR dataset's judgments and write its weights")
    .requiredOption('--dataset <dir>', 'a BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/)')
    .requiredOption('-p, --profile <name>', 'the profile whose retrieval gives the candidates')
    .option('--out <file>', "where to write the weights (default: the profile's rerank.weights)")
    .option('--seed <n>', 'seed of the split and the fit', wholeNumber, 1)
    .option('--holdout <fraction>', 'share of judged queries kept out of training and evaluated on', fraction, 0)
    .option('--top-n <n>', "candidates per query (default: the profile's rerank.top_n, else 50)", positiveInt)
    .option('--epochs <n>', 'passes over the examples', positiveInt)
    .option('--split <name>', 'the judgments: qrels/<split>.tsv', 'test')
    .action(
      async (
        opts: {
          dataset: string;
          profile: string;
          out?: string;
          seed: number;
          holdout: number;
          topN?: number;
          epochs?: number;
          split: string;
        },
        command: Command,
      ) => {
        const ctx = new CliContext(command);
        await ctx.withReembed(async (rb) => {
          const r = await rb.rerank.train({
            ...opts,
            database: ctx.options.db,
            reporter: ctx.reporter(),
          });
          ctx.result(r, () => trainText(r));
        });
      },
    );
}
