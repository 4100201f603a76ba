import type { Command } from 'commander';
import { CliContext } from './context.js';
import { positiveInt } from './options.js';
import { table } from './format.js';

export function registerFailures(program: Command): void {
  const failures = program.command('failures').description('rows that could not be embedded: list, retry or drop them');

  failures
    .command('list')
    .description('list failed rows with their error class and message')
    .option('-p, --profile <name>', 'only this profile')
    .option('--limit <n>', 'rows to show', positiveInt, 50)
    .action(async (opts: { profile?: string; limit: number }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const result = await rb.failures.list({ profile: opts.profile, limit: opts.limit });
        ctx.result(result, () =>
          result.total === 0
            ? 'no failures'
            : `${result.total} failed row(s)${result.total > result.failures.length ? `, newest ${result.failures.length} shown` : ''}\n` +
              table(
                ['profile', 'doc id', 'error', 'attempts', 'failed at', 'message'],
                result.failures.map((f) => [
                  f.profile,
                  f.docId,
                  f.errorClass,
                  f.attempts,
                  f.failedAt,
                  f.message.slice(0, 100),
                ]),
              ),
        );
      });
    });

  for (const [name, description] of [
    ['retry', 'put failed rows back in the queue (attempts reset); a running worker picks them up'],
    ['drop', 'forget failed rows (they stay unembedded and count against coverage)'],
  ] as const) {
    failures
      .command(name)
      .description(description)
      .option('-p, --profile <name>', 'only this profile')
      .option('--id <id...>', 'only these document ids')
      .action(async (opts: { profile?: string; id?: string[] }, command: Command) => {
        const ctx = new CliContext(command);
        await ctx.withReembed(async (rb) => {
          const count = await rb.failures[name]({ profile: opts.profile, ids: opts.id });
          ctx.result(
            { [name === 'retry' ? 'requeued' : 'dropped']: count },
            () => `${name === 'retry' ? 'requeued' : 'dropped'} ${count} row(s)`,
          );
        });
      });
  }
}
