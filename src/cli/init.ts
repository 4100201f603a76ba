import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { CliContext } from './context.js';

export const STARTER_MANIFEST = `# reembed manifest: embedding profiles, and the baseline profile of each environment.
# Reference: the configuration reference, docs/configuration.md in the reembed source repository
# (not in the installed package); \`reembed --help\` and \`reembed COMMAND --help\` explain each command.

# Where reembed keeps its state: a directory (embedded PGlite) or postgres://…
# REEMBED_DATABASE_URL and --db override it.
database: .reembed

# The documents: reembed's own table (managed), or your table (attach):
#   source: { table: public.documents, id: id, text: "{title}\\n\\n{body}" }
source:
  managed: true

profiles:
  # Built in, offline and deterministic: a lexical (not semantic) feature-hashing embedder.
  hash_small:
    provider: hash
    dims: 256
    metric: cosine
  # Any OpenAI-compatible /v1/embeddings server (OpenAI, vLLM, TEI, LM Studio, Ollama's /v1).
  # minilm:
  #   provider: openai-compatible
  #   base_url: http://localhost:11434/v1
  #   model: all-minilm
  #   dims: 384
  #   api_key_env: OPENAI_API_KEY

environments:
  development: { profile: hash_small }
  production:  { profile: hash_small }

# How \`reembed controller\` steps a migration (the reference's Rollout section). Without it, the
# runbook defaults apply: steps 5/25/50/100, gates on coverage, verify, ANN agreement, offline
# Recall@5, online error rate, p95 and circuit-breaker trips.
# rollout:
#   steps: [5, 25, 50, 100]
#   interval: 1m
#   step_min_duration: 10m
#   step_min_requests: 100
`;

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a starter reembed.yaml (unless one exists) and the reembed schema in the database')
    .option('--force', 'overwrite an existing manifest file')
    .action(async (_opts: { force?: boolean }, command: Command) => {
      const ctx = new CliContext(command);
      const path = resolve(ctx.options.config ?? 'reembed.yaml');
      const force = Boolean(command.opts<{ force?: boolean }>().force);
      let wroteManifest = false;
      // A dangling symbolic link "does not exist", and writing would create its target elsewhere.
      const link = lstatSync(path, { throwIfNoEntry: false });
      if (link?.isSymbolicLink() && !existsSync(path))
        throw new ConfigError(
          `${path} is a symbolic link to a missing file; remove it, or pass --config with the file to create`,
        );
      if (!existsSync(path) || force) {
        // Validate what we write, so the starter can never be broken.
        const [{ buildManifest }, { parseDocument }] = await Promise.all([import('../reembed.js'), import('yaml')]);
        buildManifest(parseDocument(STARTER_MANIFEST).toJS(), null);
        writeFileSync(path, STARTER_MANIFEST);
        wroteManifest = true;
      }
      let rb;
      try {
        rb = await ctx.open();
      } catch (error) {
        if (error instanceof ConfigError && !wroteManifest) {
          throw new ConfigError([`${path} exists but is not valid (use --force to replace it):`, ...error.problems]);
        }
        throw error;
      }
      try {
        const { database, schemaVersion: version } = await rb.schema();
        ctx.result({ manifest: path, wroteManifest, database, schemaVersion: version }, () =>
          [
            wroteManifest ? `wrote ${path}` : `kept existing ${path}`,
            `database ${database}: reembed schema at version ${version}`,
            'next: `reembed profiles check`, then `reembed embed "some text"`',
          ].join('\n'),
        );
      } finally {
        await rb.close();
      }
    });
}
