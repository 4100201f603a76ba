/**
 * A local embedding server for tests: speaks OpenAI `POST /v1/embeddings` and Ollama
 * `POST /api/embed`, and the multimodal formats: Jina-style `POST /v1/embeddings` with
 * `input: [{text}, {image}]`, Cohere-style `POST /v2/embed` and Voyage-style
 * `POST /v1/multimodalembeddings` (see multimodalKey for how their inputs are named). It returns deterministic vectors, and injects faults on a programmable plan
 * (a fixed sequence, a seeded rate, or a function). It records every request, so tests can
 * assert retries, batching, headers and concurrency.
 *
 *   const fake = await startFakeProvider({ dims: 8, faults: { sequence: [{ kind: 'status', status: 503 }] } });
 *   ... profile.base_url = fake.openaiUrl (or fake.url for Ollama) ...
 *   await fake.close();
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../src/random.js';

export type Fault =
  /** HTTP 429, with a Retry-After header when given (seconds or an HTTP date). */
  | { kind: 'rate-limit'; retryAfter?: string }
  /** Any other status (500, 503, 401, 400, ...), optionally with Retry-After and a body. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  /** A correct answer, but only after `delayMs` (beyond a client timeout, typically). */
  | { kind: 'slow'; delayMs: number }
  /** The connection is destroyed without an answer. */
  | { kind: 'reset' }
  /** 200 with a body cut off in the middle of the JSON. */
  | { kind: 'malformed-json' }
  /** 200 with vectors of another size. */
  | { kind: 'wrong-dims'; dims?: number }
  /** 200 with the literal `NaN` in the JSON, as some servers write it. */
  | { kind: 'nan' }
  /** 200 with a `null` entry inside a vector. */
  | { kind: 'null-entry' }
  /** 200 with one vector fewer than inputs. */
  | { kind: 'fewer-vectors' }
  /** 200 where the first vector is all zeros. */
  | { kind: 'zero-vector' }
  /** 200 with as many vectors as inputs, the last one numbered like the first (`index` lists). */
  | { kind: 'duplicate-index' };

export type FaultKind = Fault['kind'];

export interface FaultRate {
  /** Probability in [0, 1] that a request (after the sequence) gets a fault. */
  rate: number;
  /** Faults to choose from, uniformly. */
  faults: Fault[];
  /** Seed of the fault dice, so a run is reproducible (default 1). */
  seed?: number;
}

export interface FaultPlan {
  /** Faults for the next requests, one per request in arrival order; null means healthy. */
  sequence?: (Fault | null)[];
  /** What happens after the sequence. */
  random?: FaultRate;
}

export type FaultPicker = (request: RecordedRequest) => Fault | null | undefined;

export type FakeFormat = 'openai' | 'ollama' | 'jina' | 'cohere' | 'voyage';

/** What the fake calls an image: `image:` and the first 12 hex digits of its bytes' sha256. */
export function imageKey(bytes: Uint8Array): string {
  return `image:${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
}

/**
 * The recorded input of a multimodal item, whose fake vector is fakeVector(key): `text:<text>`,
 * imageKey(bytes), or for a Cohere or Voyage input with both parts the two joined by `+`.
 */
export function multimodalKey(text: string | undefined, image?: Uint8Array): string {
  return [...(text ? [`text:${text}`] : []), ...(image ? [imageKey(image)] : [])].join('+');
}

/** Bytes of a base64 string or a base64 data URI. */
function imageBytes(value: unknown): Uint8Array {
  const text = String(value);
  return Buffer.from(text.startsWith('data:') ? text.slice(text.indexOf(',') + 1) : text, 'base64');
}

type Part = {
  type?: string;
  text?: string;
  image_url?: string | { url?: string };
  image_base64?: string;
  image?: string;
};

/** An image sent by its URL (Jina's `image`, Voyage's `image_url`): named `url:<url>`. */
function isUrl(value: unknown): value is string {
  return typeof value === 'string' && /^https?:\/\//.test(value);
}

function partKey(part: Part): string {
  if (part.type === 'text' || (part.type === undefined && part.text !== undefined)) return `text:${part.text}`;
  const url = typeof part.image_url === 'string' ? part.image_url : undefined;
  if (isUrl(url) || isUrl(part.image)) return `url:${url ?? part.image}`;
  const image = typeof part.image_url === 'object' ? part.image_url.url : (part.image_base64 ?? part.image);
  return imageKey(imageBytes(image));
}

/** The inputs of a request as the fake names them (texts for OpenAI and Ollama, keys for the others). */
function requestInputs(format: FakeFormat, body: Record<string, unknown>): string[] {
  if (format === 'jina') return (body.input as Part[]).map(partKey);
  if (format === 'cohere' || format === 'voyage') {
    return ((body.inputs ?? []) as { content?: Part[] }[]).map((i) => (i.content ?? []).map(partKey).join('+'));
  }
  const input = body.input;
  return Array.isArray(input) ? input.map(String) : [String(input)];
}

export interface RecordedRequest {
  /** 0-based arrival number. */
  index: number;
  /** Date.now() at arrival. */
  time: number;
  format: FakeFormat;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  model: unknown;
  inputs: string[];
  /** The fault injected, if any. */
  fault?: FaultKind;
}

export interface FakeProviderOptions {
  /** Vector size when the request does not ask for `dimensions` (default 8). */
  dims?: number;
  /** Added to every response (default 0). */
  latencyMs?: number;
  faults?: FaultPlan | FaultPicker;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get 401. */
  apiKey?: string;
}

export interface FakeProvider {
  /** Base URL, e.g. http://127.0.0.1:PORT (Ollama profiles use this). */
  url: string;
  /** `${url}/v1`, the base_url of an openai-compatible profile. */
  openaiUrl: string;
  requests: RecordedRequest[];
  /** Highest number of requests the server was answering at the same time. */
  readonly maxInFlight: number;
  readonly inFlight: number;
  /** Replaces the plan; a sequence starts again from its first entry. */
  setFaults(plan: FaultPlan | FaultPicker | undefined): void;
  /** Forgets recorded requests and the in-flight maximum. */
  reset(): void;
  close(): Promise<void>;
}

/** FNV-1a, used only to seed the vectors of a text. */
function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The vector the fake returns for `text` (not normalized), so tests can predict results. */
export function fakeVector(text: string, dims: number): number[] {
  const random = seededRandom(seedOf(text));
  return Array.from({ length: dims }, () => Math.round((random() * 2 - 1) * 1e6) / 1e6 || 0.5);
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function vectorsJson(vectors: number[][], fault: Fault | null): string[] {
  return vectors.map((vector, i) => {
    const parts = vector.map(String);
    if (i === 0 && fault?.kind === 'nan') parts[0] = 'NaN';
    if (i === 0 && fault?.kind === 'null-entry') parts[parts.length - 1] = 'null';
    return `[${parts.join(',')}]`;
  });
}

function successBody(request: RecordedRequest, defaultDims: number, fault: Fault | null): string {
  const requested = request.body.dimensions ?? request.body.output_dimension;
  let dims = typeof requested === 'number' ? requested : defaultDims;
  if (fault?.kind === 'wrong-dims') dims = fault.dims ?? dims + 1;
  let vectors = request.inputs.map((text) => fakeVector(text, dims));
  if (fault?.kind === 'fewer-vectors') vectors = vectors.slice(0, -1);
  if (fault?.kind === 'zero-vector' && vectors[0]) vectors[0] = vectors[0].map(() => 0);
  const tokens = request.inputs.reduce((sum, text) => sum + wordCount(text), 0);
  const items = vectorsJson(vectors, fault);
  const indexOf = (i: number) => (fault?.kind === 'duplicate-index' && i > 0 && i === items.length - 1 ? 0 : i);
  const data = `[${items.map((v, i) => `{"object":"embedding","index":${indexOf(i)},"embedding":${v}}`).join(',')}]`;
  const model = JSON.stringify(request.model);
  let body: string;
  switch (request.format) {
    case 'openai':
    case 'jina':
      body = `{"object":"list","data":${data},"model":${model},"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`;
      break;
    case 'cohere':
      body = `{"id":"fake","embeddings":{"float":[${items.join(',')}]},"meta":{"billed_units":{"input_tokens":${tokens},"image_tokens":0}}}`;
      break;
    case 'voyage':
      body = `{"object":"list","data":${data},"model":${model},"usage":{"total_tokens":${tokens}}}`;
      break;
    case 'ollama':
      body = `{"model":${model},"embeddings":[${items.join(',')}],"prompt_eval_count":${tokens}}`;
  }
  if (fault?.kind === 'malformed-json') body = body.slice(0, Math.floor(body.length / 2));
  return body;
}

function errorBody(format: RecordedRequest['format'], message: string): string {
  if (format === 'cohere') return JSON.stringify({ message });
  if (format === 'voyage') return JSON.stringify({ detail: message });
  return format === 'openai' || format === 'jina'
    ? JSON.stringify({ error: { message, type: 'fake_error', code: null } })
    : JSON.stringify({ error: message });
}

const FORMAT_BY_PATH: Record<string, FakeFormat> = {
  '/v1/embeddings': 'openai',
  '/api/embed': 'ollama',
  '/v2/embed': 'cohere',
  '/v1/multimodalembeddings': 'voyage',
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const dims = options.dims ?? 8;
  const latencyMs = options.latencyMs ?? 0;
  let plan: FaultPlan | FaultPicker | undefined = options.faults;
  let sequenceStart = 0;
  let dice = seededRandom(1);
  let inFlight = 0;
  let maxInFlight = 0;
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const closed = new WeakSet<ServerResponse>();

  function setFaults(next: FaultPlan | FaultPicker | undefined): void {
    plan = next;
    sequenceStart = requests.length;
    dice = seededRandom(typeof next === 'object' ? (next.random?.seed ?? 1) : 1);
  }
  setFaults(plan);

  function pickFault(request: RecordedRequest): Fault | null {
    if (plan === undefined) return null;
    if (typeof plan === 'function') return plan(request) ?? null;
    const position = request.index - sequenceStart;
    const sequence = plan.sequence ?? [];
    if (position < sequence.length) return sequence[position] ?? null;
    const random = plan.random;
    if (!random || random.faults.length === 0 || dice() >= random.rate) return null;
    return random.faults[Math.floor(dice() * random.faults.length)] ?? null;
  }

  function wait(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    if (res.destroyed || closed.has(res)) return; // the client gave up (timeout): nothing to answer
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    let format: FakeFormat | undefined = FORMAT_BY_PATH[path];
    const raw = await readBody(req);
    if (req.method !== 'POST' || format === undefined) return send(res, 404, '{"error":"not found"}');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return send(res, 400, errorBody(format, 'request body is not JSON'));
    }
    // Jina's multimodal input is OpenAI's path with objects in the input list.
    if (format === 'openai' && Array.isArray(body.input) && body.input.some((i) => typeof i === 'object')) {
      format = 'jina';
    }
    let inputs: string[];
    try {
      inputs = requestInputs(format, body);
    } catch {
      return send(res, 400, errorBody(format, 'request does not match the format'));
    }
    const request: RecordedRequest = {
      index: requests.length,
      time: Date.now(),
      format,
      path,
      headers: req.headers,
      body,
      model: body.model,
      inputs,
    };
    requests.push(request);

    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return send(res, 401, errorBody(format, 'invalid api key'));
    }
    const fault = pickFault(request);
    request.fault = fault?.kind;
    await wait(latencyMs + (fault?.kind === 'slow' ? fault.delayMs : 0));
    switch (fault?.kind) {
      case 'reset':
        req.socket.destroy();
        return;
      case 'rate-limit':
        return send(
          res,
          429,
          errorBody(format, 'rate limit exceeded'),
          fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter },
        );
      case 'status':
        return send(
          res,
          fault.status,
          fault.body ?? errorBody(format, `fake status ${fault.status}`),
          fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter },
        );
      default:
        return send(res, 200, successBody(request, dims, fault));
    }
  }

  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => {
      inFlight--;
      closed.add(res);
    });
    handle(req, res).catch((error: unknown) => send(res, 500, JSON.stringify({ error: String(error) })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    openaiUrl: `${url}/v1`,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    setFaults,
    reset() {
      requests.length = 0;
      sequenceStart = 0;
      maxInFlight = inFlight;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
