/** What `reembed serve` (src/cli/serve.ts) needs from the server: its one entry point for the CLI. */
export { buildServer, DEFAULT_BODY_LIMIT, type ServerOptions, type ReembedServer } from './app.js';
export { tokensFromEnv, TOKEN_ENV, type Tokens } from './auth.js';
export { runControllerLoop } from './controller-loop.js';
export { checkBind, DEFAULT_HOST, DEFAULT_PORT, onShutdownSignal, shutdown } from './lifecycle.js';
