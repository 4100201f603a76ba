import type { Command } from 'commander';
import { CliContext } from './context.js';

export function registerEmbed(program: Command): void {
  program
    .command('embed')
    .description('embed one text with a profile and show the vector, for debugging a profile')
    .argument('<text>', 'the text to embed')
    .option('-p, --profile <name>', 'profile to use (default: the active profile of the environment)')
    .option('--query', 'embed as a query (applies query_prefix) instead of as a document')
    .action(async (text: string, opts: { profile?: string; query?: boolean }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        if (!opts.profile) ctx.info(rb.profiles.active().banner);
        const summary = await rb.embed(text, { profile: opts.profile, query: opts.query });
        const { vector, norm, latencyMs } = summary;
        const profile = rb.profiles.get(summary.profile);
        ctx.result(summary, () =>
          [
            `profile      ${profile.name} (${profile.provider}${profile.model ? ` ${profile.model}` : ''}, fingerprint ${profile.fingerprint})`,
            `purpose      ${summary.purpose}`,
            `dims         ${vector.length}`,
            `norm         ${norm.toFixed(6)}`,
            `tokens       ${summary.tokens}${summary.tokensEstimated ? ' (estimated)' : ''}${summary.truncated ? ' (input truncated)' : ''}`,
            `latency      ${latencyMs.toFixed(1)} ms`,
            `first values [${vector
              .slice(0, 8)
              .map((x) => x.toFixed(4))
              .join(', ')}${vector.length > 8 ? ', …' : ''}]`,
          ].join('\n'),
        );
      });
    });
}
