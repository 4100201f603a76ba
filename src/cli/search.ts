import type { Command } from 'commander';
import { CliContext } from './context.js';
import { positiveInt } from './options.js';
import { table } from './format.js';
import type { FallbackReason } from '../reembed.js';

function fallbackText(reason: FallbackReason | undefined): string {
  switch (reason?.kind) {
    case 'timeout':
      return 'the candidate timed out';
    case 'breaker_open':
      return "the candidate's circuit is open";
    case 'rejected_input':
      return `the candidate refused this query${reason.code ? ` (${reason.code})` : ''}`;
    default:
      return `the candidate failed${reason?.code ? ` (${reason.code})` : ''}`;
  }
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description(
      'search as the serving path does: the profile chosen by the migration and the subject’s bucket, with the latency breakdown',
    )
    .argument('<text>', 'the query')
    .option('-s, --subject <id>', 'the user, session or tenant whose bucket decides the canary (none: the control)')
    .option('-k, --k <n>', 'results to return', positiveInt, 10)
    .option('--filter <column=value>', 'only documents whose source column equals the value')
    .action(async (text: string, opts: { subject?: string; k: number; filter?: string }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(
        async (rb) => {
          const active = rb.profiles.active();
          ctx.info(active.banner);
          rb.profiles.get(active.profile);
          const res = await rb.search(text, { subject: opts.subject, k: opts.k, filter: opts.filter });
          ctx.result(res, () =>
            [
              `served by ${res.profile}${res.fallback ? ` (fallback: ${fallbackText(res.fallbackReason)})` : ''}${res.migration ? ` · migration ${res.migration.id} ${res.migration.phase} ${res.migration.percent}%` : ''}${res.rerank ? ` · rerank ${res.rerank}` : ''}`,
              `latency: ${res.latencyMs.init >= 1 ? `init ${res.latencyMs.init.toFixed(1)} ms, ` : ''}${res.fallback ? `candidate ${res.latencyMs.fallback.toFixed(1)} ms, ` : ''}embed ${res.latencyMs.embed.toFixed(1)} ms, search ${res.latencyMs.search.toFixed(1)} ms, ${res.rerank ? `rerank ${res.latencyMs.rerank.toFixed(1)} ms, ` : ''}total ${res.latencyMs.total.toFixed(1)} ms`,
              table(
                ['rank', 'id', 'score'],
                res.hits.map((h, i) => [i + 1, h.id, h.score.toFixed(4)]),
              ),
            ].join('\n'),
          );
        },
        {
          router: {
            lazy: true,
            hotDocuments: false,
            shadow: { enabled: false },
            // One search: the long-running routers prune old serving windows, not this.
            metrics: { retentionMs: 0 },
          },
        },
      );
    });
}
