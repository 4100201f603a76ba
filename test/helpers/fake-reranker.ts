/**
 * A local rerank server for tests, in the wire format of Cohere-, Jina- and TEI-compatible
 * servers: `POST /rerank` with `{model, query, documents, top_n}` → `{results: [{index,
 * relevance_score}]}`. Healthy answers rank the documents in reverse (the last first), so a
 * reranked response is easy to tell from the retrieval's order. Faults come from a sequence,
 * one per request in arrival order, then `always` (if set). Every request is recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RerankFault =
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'malformed-json' }
  | { kind: 'out-of-range' }
  | { kind: 'duplicate-index' }
  | { kind: 'non-finite' };

export interface RerankRequestBody {
  model: string;
  query: string;
  documents: string[];
  top_n: number;
}

export interface FakeReranker {
  url: string;
  requests: Array<{ body: RerankRequestBody; authorization: string | undefined }>;
  faults: Array<RerankFault | null>;
  always: RerankFault | null;
  /** How a healthy answer ranks: `reverse` (default, the last first) or `identity` (unchanged). */
  order: 'reverse' | 'identity';
  close(): Promise<void>;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
}

/** The healthy order: documents in reverse, scores descending. */
export function reverseOrder(n: number): number[] {
  return Array.from({ length: n }, (_, i) => n - 1 - i);
}

export async function startFakeReranker(): Promise<FakeReranker> {
  const timers = new Set<NodeJS.Timeout>();
  const fake: FakeReranker = {
    url: '',
    requests: [],
    faults: [],
    always: null,
    order: 'reverse',
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = createServer((req, res) => {
    void (async () => {
      const body = JSON.parse(await read(req)) as RerankRequestBody;
      fake.requests.push({ body, authorization: req.headers.authorization });
      if (req.url !== '/rerank' || req.method !== 'POST') return json(res, 404, '{"error":"not found"}');
      const fault = fake.faults.length ? fake.faults.shift()! : fake.always;
      const n = body.documents.length;
      const ranked = fake.order === 'reverse' ? reverseOrder(n) : reverseOrder(n).reverse();
      const results = ranked.map((index, rank) => ({ index, relevance_score: 1 - rank / (n + 1) }));
      if (fault?.kind === 'status')
        return json(
          res,
          fault.status,
          '{"error":"injected"}',
          fault.retryAfter ? { 'retry-after': fault.retryAfter } : {},
        );
      if (fault?.kind === 'malformed-json') return json(res, 200, '{"results": [{"index": 0,');
      if (fault?.kind === 'out-of-range') results[0] = { index: n + 3, relevance_score: 2 };
      if (fault?.kind === 'duplicate-index') results[1] = { index: results[0]!.index, relevance_score: 0.5 };
      if (fault?.kind === 'non-finite')
        return json(
          res,
          200,
          JSON.stringify({ results }).replace(/"relevance_score":[0-9.e-]+/, '"relevance_score":null'),
        );
      const answer = () => json(res, 200, JSON.stringify({ results }));
      if (fault?.kind === 'slow') {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, fault.delayMs);
        timers.add(t);
        return;
      }
      answer();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
