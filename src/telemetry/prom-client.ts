/**
 * prom-client, loaded on first use: a command that serves no metrics (most of the CLI) never
 * pays for loading it. It is CommonJS, so require() returns the very module an `import` would,
 * and a synchronous first use (a registry getter) stays possible.
 */
import { createRequire } from 'node:module';

type PromClient = typeof import('prom-client');

let loaded: PromClient | undefined;

export function promClient(): PromClient {
  loaded ??= createRequire(import.meta.url)('prom-client') as PromClient;
  return loaded;
}
