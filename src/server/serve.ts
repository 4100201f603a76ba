/**
 * The server's entry point: what `reembed serve` (src/cli/serve.ts) uses, and what an
 * application imports as `reembed/server` to serve the API from its own process:
 *
 *     const rb = await open({ router: { lazy: true } });
 *     const { app } = await buildServer(rb, { tokens: tokensFromEnv(process.env) });
 *     await app.listen({ port: 8787 });
 */
export { buildServer, DEFAULT_BODY_LIMIT, type ServerOptions, type ReembedServer } from './app.js';
export { isLoopback, tokensFromEnv, TOKEN_ENV, type Tokens } from './auth.js';
export { runControllerLoop } from './controller-loop.js';
export { checkBind, DEFAULT_HOST, DEFAULT_PORT, onShutdownSignal, shutdown } from './lifecycle.js';
