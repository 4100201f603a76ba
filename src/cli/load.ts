import { Option, type Command } from 'commander';
import { LOAD_FORMATS, DEFAULT_LOAD_BATCH_SIZE, type LoadFormat } from '../facade/shell.js';
import type { Progress } from './progress.js';
import { CliContext } from './context.js';
import { positiveInt } from './options.js';

export function registerLoad(program: Command): void {
  program
    .command('load')
    .summary('import a JSON Lines file (BEIR corpus.jsonl or plain) into the managed source, in one transaction')
    .description(
      'Import documents from a JSON Lines file, or - for stdin, into the managed source. Shapes: BEIR ' +
        'corpus.jsonl ({"_id", "title", "text", "metadata"}) and plain ({"id", "text" or "content", other keys ' +
        'become metadata}). New ids are inserted, changed ones updated, equal ones left alone. The whole file ' +
        'loads in one transaction: a bad line (invalid JSON, missing or empty id, missing text, a NUL character, ' +
        'an id repeated in the file) fails the load with exit 1, naming the file and line, and leaves the ' +
        'table as it was.',
    )
    .argument('<file>', 'a .jsonl file, or - to read stdin')
    .addOption(
      new Option('--format <format>', 'document shape; auto: beir when the first object has "_id"')
        .choices([...LOAD_FORMATS])
        .default('auto'),
    )
    .option('--batch-size <n>', 'documents per batch (one COPY and one upsert)', positiveInt, DEFAULT_LOAD_BATCH_SIZE)
    .action(async (file: string, opts: { format: LoadFormat; batchSize: number }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        let bar: Progress | null = null;
        const result = await rb.load(file, {
          format: opts.format,
          batchSize: opts.batchSize,
          onStart: (input) => {
            bar = ctx.progress(`load ${input.name}`);
          },
          // By bytes of the file. Stdin has no size, so no bar there; the summary still comes.
          onProgress: (p) => {
            if (p.totalBytes !== null) bar?.update(p.bytesRead, p.totalBytes, `${p.rows} rows`);
          },
        });
        (bar as Progress | null)?.finish();
        ctx.result(result, () =>
          [
            `loaded ${result.file}${result.format ? ` (${result.format})` : ''} into ${result.database}:`,
            `  ${result.rows} rows read: ${result.inserted} inserted, ${result.updated} updated, ${result.unchanged} unchanged`,
            `  ${result.seconds.toFixed(2)} s, ${result.rowsPerSecond.toFixed(0)} rows/s`,
          ].join('\n'),
        );
      });
    });
}
