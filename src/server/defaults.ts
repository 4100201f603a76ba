/**
 * The server's defaults, apart from the server: `reembed serve --help` prints them without
 * loading Fastify and the facade.
 */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
/** The largest request body the API accepts, in bytes. */
export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;
