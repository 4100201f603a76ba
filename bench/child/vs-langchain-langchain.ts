/**
 * The LangChain.js side of `vs-langchain`, in a child process of its own: `index()` from
 * `@langchain/core/indexing` with a `PGVectorStore` and a `PostgresRecordManager` on the same
 * PostgreSQL server, cleanup "full" (documents absent from the input are deleted), as its docs
 * show for keeping a store in sync with a source.
 * - embedder: the hash setting wraps reembed's own HashVectorizer (the same function, the same
 *   vectors) in an `Embeddings` subclass; the http setting is `OpenAIEmbeddings` pointed at the
 *   local fake server;
 * - `langchain-default`: index()'s default batch (100), OpenAIEmbeddings' defaults (512 inputs per
 *   request, maxConcurrency 2); `langchain-1024x4`: index() batches of 1024, split into requests
 *   of 256 with maxConcurrency 4;
 * - initial sync ends with `createHnswIndex` (cosine, m 16, ef_construction 64), so that both
 *   sides search an HNSW index (reembed builds one when a backfill completes);
 * - phases: initial sync, re-sync (the re-sync file: 1% changed, 0.5% absent), model change
 *   (index() again with embedder b: the record manager hashes content and metadata only, so it
 *   re-embeds nothing), search (`similaritySearch(query, 10)` with embedder a).
 * Counts are checked after each phase: index()'s own result, and rows counted in both tables.
 * LangChain is imported dynamically so that the bench's TypeScript build stays light.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { HashVectorizer } from '../../src/embedders/hash.js';
import {
  DIMS,
  HASH_SEEDS,
  MODELS,
  documentContent,
  expectEqual,
  measurePhase,
  measureSearch,
  readJob,
  report,
  step,
  type PhaseResult,
} from '../lib/vs-langchain.js';

const VECTOR_TABLE = 'langchain_pg_embedding';
const RECORD_TABLE = 'upsertion_records';
const NAMESPACE = 'bench';

interface Tuning {
  /** index() documents per batch (undefined: its default, 100). */
  indexBatch?: number;
  /** Inputs per embedding request (undefined: the embedder's default). */
  requestBatch?: number;
  maxConcurrency?: number;
}

const TUNING: Record<'langchain-default' | 'langchain-1024x4', Tuning> = {
  'langchain-default': {},
  'langchain-1024x4': { indexBatch: 1024, requestBatch: 256, maxConcurrency: 4 },
};

async function main(): Promise<void> {
  const job = readJob();
  if (job.side === 'reembed') throw new Error('this child runs the LangChain side');
  const tuning = TUNING[job.side];
  const { Document } = await import('@langchain/core/documents');
  const { Embeddings } = await import('@langchain/core/embeddings');
  const { index } = await import('@langchain/core/indexing');
  const { PGVectorStore } = await import('@langchain/community/vectorstores/pgvector');
  const { PostgresRecordManager } = await import('@langchain/community/indexes/postgres');
  const { OpenAIEmbeddings } = await import('@langchain/openai');

  /** reembed's hash function as a LangChain embedder: requests of `requestBatch` through the caller. */
  class HashEmbeddings extends Embeddings {
    private readonly vectorizer: HashVectorizer;
    constructor(seed: number) {
      super({ maxConcurrency: tuning.maxConcurrency });
      this.vectorizer = new HashVectorizer(DIMS, { word_ngrams: [1, 2], char_ngrams: [3, 5], seed });
    }
    private vector(text: string): number[] {
      const result = this.vectorizer.vectorize(text);
      if (!result) throw new Error('a text without letters or digits');
      return Array.from(result.vector);
    }
    async embedDocuments(texts: string[]): Promise<number[][]> {
      const size = tuning.requestBatch ?? texts.length;
      const batches: string[][] = [];
      for (let i = 0; i < texts.length; i += size) batches.push(texts.slice(i, i + size));
      const out = await Promise.all(batches.map((b) => this.caller.call(async () => b.map((t) => this.vector(t)))));
      return out.flat();
    }
    async embedQuery(text: string): Promise<number[]> {
      return this.vector(text);
    }
  }

  /** Documents each embedder was asked to embed (embedDocuments only; queries apart). */
  const embeddedBy = { a: 0, b: 0 };
  const embedder = (which: 'a' | 'b') => {
    const e =
      job.setting === 'hash'
        ? new HashEmbeddings(HASH_SEEDS[which])
        : new OpenAIEmbeddings({
            model: MODELS[which],
            apiKey: 'bench',
            configuration: { baseURL: job.providerUrl! },
            ...(tuning.requestBatch ? { batchSize: tuning.requestBatch } : {}),
            ...(tuning.maxConcurrency ? { maxConcurrency: tuning.maxConcurrency } : {}),
          });
    const embedDocuments = e.embedDocuments.bind(e);
    e.embedDocuments = (texts: string[]) => {
      embeddedBy[which] += texts.length;
      return embedDocuments(texts);
    };
    return e;
  };

  const readDocuments = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const line = JSON.parse(l) as { _id: string; title: string; text: string; metadata: Record<string, unknown> };
        return new Document({
          pageContent: documentContent(line),
          metadata: { ...line.metadata, title: line.title, source: line._id },
        });
      });

  const connection = { postgresConnectionOptions: { connectionString: job.databaseUrl } };
  const storeConfig = { ...connection, tableName: VECTOR_TABLE, dimensions: DIMS };
  const recordManager = new PostgresRecordManager(NAMESPACE, { ...connection, tableName: RECORD_TABLE });
  await recordManager.createSchema();
  const storeA = await PGVectorStore.initialize(embedder('a'), storeConfig);
  const counter = new pg.Client({ connectionString: job.databaseUrl });
  await counter.connect();
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await counter.query<{ n: string }>(sql, params)).rows[0]!.n);
  const counts = async () => ({
    vectors: await count(`SELECT count(*) AS n FROM ${VECTOR_TABLE}`),
    records: await count(`SELECT count(*) AS n FROM ${RECORD_TABLE} WHERE namespace = $1`, [NAMESPACE]),
  });
  const options = { cleanup: 'full' as const, ...(tuning.indexBatch ? { batchSize: tuning.indexBatch } : {}) };
  const live = job.documents - job.deleted;
  const phases: PhaseResult[] = [];
  try {
    const firstParts: Record<string, number> = {};
    const first = await measurePhase(async () => {
      const result = await step(firstParts, 'index()', () =>
        index({ docsSource: readDocuments(job.firstFile), recordManager, vectorStore: storeA, options }),
      );
      await step(firstParts, 'createHnswIndex', () => storeA.createHnswIndex({ dimensions: DIMS }));
      return result;
    });
    // createHnswIndex logs a failure and returns: make sure the index exists and that search's
    // ORDER BY can use it (seq scans off on this connection only: on a small table the planner
    // may rightly prefer one).
    const probe = `[${Array.from({ length: DIMS }, (_, i) => Math.sin(i + 1)).join(',')}]`;
    await counter.query('SET enable_seqscan = off');
    const plan = (
      await counter.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT * FROM ${VECTOR_TABLE} ORDER BY embedding <=> $1 LIMIT 10`,
        [probe],
      )
    ).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    await counter.query('RESET enable_seqscan');
    if (!/Index Scan using \S*hnsw/.test(plan)) throw new Error(`search cannot use the HNSW index:\n${plan}`);
    expectEqual('initial sync: numAdded', first.value.numAdded, job.documents);
    expectEqual('initial sync: documents embedded', embeddedBy.a, job.documents);
    const afterFirst = await counts();
    expectEqual('initial sync: vectors in the table', afterFirst.vectors, job.documents);
    expectEqual('initial sync: records', afterFirst.records, job.documents);
    phases.push({
      name: 'initial sync',
      inputDocuments: job.documents,
      seconds: first.seconds,
      cpuMicros: first.cpuMicros,
      maxRssKiB: first.maxRssKiB,
      embedded: embeddedBy.a,
      check: `vectors ${afterFirst.vectors}, records ${afterFirst.records}, HNSW index usable by search`,
      parts: firstParts,
    });

    const embeddedBefore = embeddedBy.a;
    const resync = await measurePhase(() =>
      index({ docsSource: readDocuments(job.resyncFile), recordManager, vectorStore: storeA, options }),
    );
    const r = resync.value;
    expectEqual('re-sync: numAdded', r.numAdded, job.changed);
    expectEqual('re-sync: numDeleted (old versions of changed + absent)', r.numDeleted, job.changed + job.deleted);
    expectEqual('re-sync: numSkipped', r.numSkipped, live - job.changed);
    expectEqual('re-sync: documents embedded', embeddedBy.a - embeddedBefore, job.changed);
    const afterResync = await counts();
    expectEqual('re-sync: vectors in the table', afterResync.vectors, live);
    expectEqual('re-sync: records', afterResync.records, live);
    phases.push({
      name: 're-sync',
      inputDocuments: live,
      seconds: resync.seconds,
      cpuMicros: resync.cpuMicros,
      maxRssKiB: resync.maxRssKiB,
      embedded: embeddedBy.a - embeddedBefore,
      check: `vectors ${afterResync.vectors}, records ${afterResync.records}`,
    });

    // A model change the way the record manager sees it: same documents, another embedder.
    const storeB = await PGVectorStore.initialize(embedder('b'), storeConfig);
    try {
      const change = await measurePhase(() =>
        index({ docsSource: readDocuments(job.resyncFile), recordManager, vectorStore: storeB, options }),
      );
      expectEqual('model change: numAdded (LangChain re-embeds nothing)', change.value.numAdded, 0);
      expectEqual('model change: numSkipped', change.value.numSkipped, live);
      const afterChange = await counts();
      expectEqual('model change: vectors in the table', afterChange.vectors, live);
      phases.push({
        name: 'model change',
        inputDocuments: live,
        seconds: change.seconds,
        cpuMicros: change.cpuMicros,
        maxRssKiB: change.maxRssKiB,
        embedded: embeddedBy.b,
        check: `numAdded ${change.value.numAdded}, numSkipped ${change.value.numSkipped}: every vector still of model a`,
      });
    } finally {
      await storeB.end();
    }

    const search = await measureSearch(job, async (query) => (await storeA.similaritySearch(query, 10)).length);
    report({ side: job.side, setting: job.setting, phases, search, maxRssKiB: process.resourceUsage().maxRSS });
  } finally {
    await counter.end();
    await storeA.end();
    await recordManager.end();
  }
}

await main();
