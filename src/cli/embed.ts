import type { Command } from 'commander';
import { createEmbedder } from '../embedders/create.js';
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
      const profile = opts.profile ? ctx.profile(opts.profile) : ctx.activeProfile().profile;
      const embedder = createEmbedder(profile);
      const started = performance.now();
      const result = await embedder.embed([text], opts.query ? 'query' : 'document');
      const latencyMs = performance.now() - started;
      const vector = Array.from(result.vectors[0]!);
      const norm = Math.sqrt(vector.reduce((s, x) => s + x * x, 0));
      const summary = {
        profile: profile.name,
        fingerprint: profile.fingerprint,
        provider: profile.provider,
        model: profile.model ?? null,
        purpose: opts.query ? 'query' : 'document',
        dims: vector.length,
        norm,
        tokens: result.usage.tokens,
        truncated: result.truncated > 0,
        latencyMs,
      };
      ctx.result({ ...summary, vector }, () =>
        [
          `profile      ${profile.name} (${profile.provider}${profile.model ? ` ${profile.model}` : ''}, fingerprint ${profile.fingerprint})`,
          `purpose      ${summary.purpose}`,
          `dims         ${vector.length}`,
          `norm         ${norm.toFixed(6)}`,
          `tokens       ${summary.tokens}${summary.truncated ? ' (input truncated)' : ''}`,
          `latency      ${latencyMs.toFixed(1)} ms`,
          `first values [${vector
            .slice(0, 8)
            .map((x) => x.toFixed(4))
            .join(', ')}${vector.length > 8 ? ', …' : ''}]`,
        ].join('\n'),
      );
    });
}
