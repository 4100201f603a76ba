/**
 * A local embedding server in the OpenAI `POST /v1/embeddings` wire format that enforces a
 * requests-per-minute and a tokens-per-minute limit itself, as a hosted provider does: over a
 * sliding window of `windowMs`, at most rpm × window / 1 min requests and tpm × window / 1 min
 * tokens are accepted. A request over either answers 429 at once, with Retry-After (whole
 * seconds, rounded up, as HTTP allows) saying when it would fit; an accepted one is answered
 * after `latencyMs`. Rejected requests do not use up the window. Tokens are counted with the
 * same cl100k_base tokenizer reembed's client counts with, so both sides agree on what a token is.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface RateLimitedProviderOptions {
  dims: number;
  latencyMs: number;
  rpm: number;
  tpm: number;
  windowMs: number;
  countTokens: (text: string) => number;
}

export interface RequestLog {
  /** performance.now() at arrival. */
  at: number;
  tokens: number;
  inputs: number;
}

export interface RateLimitedProvider {
  /** The base_url of an openai-compatible profile. */
  openaiUrl: string;
  accepted: RequestLog[];
  rejected: RequestLog[];
  readonly maxInFlight: number;
  close(): Promise<void>;
}

function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The vector the server returns for a text (not normalized), so stored rows can be checked. */
export function serverVector(text: string, dims: number): number[] {
  let a = seedOf(text);
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: dims }, () => Math.round((random() * 2 - 1) * 1e6) / 1e6 || 0.5);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startRateLimitedProvider(options: RateLimitedProviderOptions): Promise<RateLimitedProvider> {
  const { dims, latencyMs, windowMs, countTokens } = options;
  const maxRequests = Math.floor((options.rpm * windowMs) / 60_000);
  const maxTokens = Math.floor((options.tpm * windowMs) / 60_000);
  const accepted: RequestLog[] = [];
  const rejected: RequestLog[] = [];
  // accepted[first..] are inside the window; windowTokens is their token sum.
  let first = 0;
  let windowTokens = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const timers = new Set<NodeJS.Timeout>();

  /** Admits the request now, or returns the milliseconds until it would fit. */
  function admit(log: RequestLog): number | null {
    while (first < accepted.length && accepted[first]!.at <= log.at - windowMs)
      windowTokens -= accepted[first++]!.tokens;
    const count = accepted.length - first;
    if (count + 1 <= maxRequests && windowTokens + log.tokens <= maxTokens) {
      accepted.push(log);
      windowTokens += log.tokens;
      return null;
    }
    // When enough of the oldest accepted requests will have left the window for this one to fit.
    let wait = 0;
    let freedRequests = 0;
    let freedTokens = 0;
    for (let i = first; i < accepted.length; i++) {
      if (count - freedRequests + 1 <= maxRequests && windowTokens - freedTokens + log.tokens <= maxTokens) break;
      freedRequests++;
      freedTokens += accepted[i]!.tokens;
      wait = accepted[i]!.at + windowMs - log.at;
    }
    return Math.max(1, wait);
  }

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/v1/embeddings') {
      return send(res, 404, '{"error":{"message":"not found"}}');
    }
    const body = JSON.parse(raw) as { input: unknown; model: unknown };
    const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)];
    const tokens = inputs.reduce((n, text) => n + countTokens(text), 0);
    const log: RequestLog = { at: performance.now(), tokens, inputs: inputs.length };
    const waitMs = admit(log);
    if (waitMs !== null) {
      rejected.push(log);
      const message = `Rate limit reached: ${options.rpm} requests and ${options.tpm} tokens per minute. Please try again in ${waitMs} ms.`;
      return send(res, 429, JSON.stringify({ error: { message, type: 'requests', code: 'rate_limit_exceeded' } }), {
        'retry-after': String(Math.ceil(waitMs / 1000)),
      });
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, latencyMs);
      timers.add(timer);
    });
    const data = inputs.map(
      (text, index) => `{"object":"embedding","index":${index},"embedding":[${serverVector(text, dims).join(',')}]}`,
    );
    send(
      res,
      200,
      `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(body.model)},` +
        `"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`,
    );
  }

  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => inFlight--);
    handle(req, res).catch((error: unknown) => send(res, 500, JSON.stringify({ error: { message: String(error) } })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    openaiUrl: `http://127.0.0.1:${port}/v1`,
    accepted,
    rejected,
    get maxInFlight() {
      return maxInFlight;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
