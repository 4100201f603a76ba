import type { Command } from 'commander';
import { CliContext } from './context.js';

export function registerDetach(program: Command): void {
  program
    .command('detach')
    .description('remove the capture triggers from the source table (stores and the queue are kept)')
    .action(async (_opts: unknown, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const result = await rb.detach();
        ctx.result(result, () => `removed capture triggers from ${result.detached}`);
      });
    });
}
