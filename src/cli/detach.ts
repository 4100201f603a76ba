import type { Command } from 'commander';
import { removeCapture } from '../source/capture.js';
import { PROFILES_TABLE } from '../store/store.js';
import { CliContext } from './context.js';

export function registerDetach(program: Command): void {
  program
    .command('detach')
    .description('remove the capture triggers from the source table (stores and the queue are kept)')
    .action(async (_opts: unknown, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withDatabase(async (db) => {
        const source = await ctx.source(db);
        await db.transaction(async (tx) => {
          await removeCapture(tx, source);
          await tx.query(`UPDATE ${PROFILES_TABLE} SET capture = false`);
        });
        ctx.result(
          { detached: `${source.schemaName}.${source.tableName}` },
          () => `removed capture triggers from ${source.schemaName}.${source.tableName}`,
        );
      });
    });
}
