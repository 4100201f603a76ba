/**
 * What the `vs-langchain` benchmark's parent and its two kinds of child share: the corpus (the
 * same JSON Lines files for both sides), the job a child is given, the phase figures it sends
 * back, and the one way both sides time a phase (wall clock, process CPU, peak RSS so far).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { collectGarbage } from './measure.js';

/** Which embedder both sides use: the hash embedder in-process, or the fake OpenAI-compatible server. */
export type Setting = 'hash' | 'http';

/** A side of the comparison: reembed with its defaults, LangChain at its default batch or at 1024 × 4. */
export type Side = 'reembed' | 'langchain-default' | 'langchain-1024x4';

export const DIMS = 384;
/** The model-change profile: another hash seed, or another model name on the fake server. */
export const HASH_SEEDS = { a: 0, b: 1 } as const;
export const MODELS = { a: 'bench-a', b: 'bench-b' } as const;

export interface Job {
  side: Side;
  setting: Setting;
  databaseUrl: string;
  /** The fake provider's `/v1` URL (setting http). */
  providerUrl: string | null;
  firstFile: string;
  resyncFile: string;
  deletedIdsFile: string;
  /** Documents in the first file; the re-sync file holds `documents - deleted` of them. */
  documents: number;
  changed: number;
  deleted: number;
  queries: string[];
  warmupQueries: string[];
}

export interface PhaseResult {
  name: 'initial sync' | 're-sync' | 'model change';
  /** Documents in the phase's input (rows/s and CPU per row are per these). */
  inputDocuments: number;
  seconds: number;
  /** User + system CPU of the child process during the phase, µs. */
  cpuMicros: number;
  /** getrusage's high-water mark at the end of the phase, KiB (never decreases). */
  maxRssKiB: number;
  /** Documents the phase embedded (sent to the embedder). */
  embedded: number;
  /** What was counted afterwards, as text for the report (e.g. "store 19,900 = source 19,900"). */
  check: string;
  /** Seconds of the phase's steps, where a side takes several (reembed: load, delete, work). */
  parts?: Record<string, number>;
}

export interface ChildResult {
  side: Side;
  setting: Setting;
  phases: PhaseResult[];
  search: { queries: number; p50Ms: number; p95Ms: number; check: string };
  maxRssKiB: number;
}

/** Children print their result on one line that starts with this. */
export const RESULT_PREFIX = 'VS_LANGCHAIN_RESULT ';

const WORDS = (
  'vector search migration embedding model index recall latency the of and to in for with on by ' +
  'database table column row query plan cost budget token provider request batch worker queue ' +
  'capture trigger chunk page lease write read store profile fingerprint hash content document ' +
  'rollout canary shadow cutover rollback gate sample window error retry limit rate throughput'
).split(' ');

function nextState(state: number): number {
  return (Math.imul(state, 1103515245) + 12345) >>> 0;
}

/** About 1.7 KB of text from a deterministic word stream, different for every (i, version). */
function body(i: number, version: number): string {
  let state = (i * 2654435761 + version * 97 + 1) >>> 0;
  const words: string[] = [];
  let length = 0;
  while (length < 1650) {
    state = nextState(state);
    const word = WORDS[(state >>> 8) % WORDS.length]!;
    words.push(word);
    length += word.length + 1;
  }
  return words.join(' ');
}

export const docId = (i: number): string => `doc-${i}`;
export const isChanged = (i: number): boolean => i % 100 === 0;
export const isDeleted = (i: number): boolean => i % 200 === 1;

export interface CorpusFiles {
  documents: number;
  changed: number;
  deleted: number;
  bytes: number;
}

/**
 * Writes the first corpus (every document) and the re-sync corpus (1% changed, 0.5% absent:
 * deleted) as BEIR-shaped JSON Lines, and the deleted ids one per line.
 */
export function writeCorpus(
  documents: number,
  files: { first: string; resync: string; deletedIds: string },
): CorpusFiles {
  const first: string[] = [];
  const resync: string[] = [];
  const deletedIds: string[] = [];
  let changed = 0;
  let bytes = 0;
  for (let i = 0; i < documents; i++) {
    const doc = { _id: docId(i), title: `Document ${i}`, text: body(i, 0), metadata: { n: i } };
    const line = JSON.stringify(doc);
    first.push(line);
    bytes += doc.title.length + 2 + doc.text.length;
    if (isDeleted(i)) {
      deletedIds.push(doc._id);
      continue;
    }
    if (isChanged(i)) {
      changed++;
      resync.push(JSON.stringify({ ...doc, text: body(i, 1) }));
    } else resync.push(line);
  }
  writeFileSync(files.first, `${first.join('\n')}\n`);
  writeFileSync(files.resync, `${resync.join('\n')}\n`);
  writeFileSync(files.deletedIds, `${deletedIds.join('\n')}\n`);
  return { documents, changed, deleted: deletedIds.length, bytes: bytes / documents };
}

/** Distinct short queries (no cache can answer one for another). */
export function makeQueries(count: number, offset: number): string[] {
  return Array.from({ length: count }, (_, q) => {
    let state = (q + offset) * 7919 + 3;
    const words: string[] = [];
    for (let w = 0; w < 4 + (q % 4); w++) {
      state = nextState(state);
      words.push(WORDS[(state >>> 8) % WORDS.length]!);
    }
    return `${words.join(' ')} ${q + offset}`;
  });
}

/** The document as both sides see it: the text reembed's BEIR loader makes (title, blank line, text). */
export function documentContent(line: { title: string; text: string }): string {
  return line.title === '' ? line.text : `${line.title}\n\n${line.text}`;
}

/** Wall clock, process CPU and the RSS high-water mark around one phase (garbage collected first). */
export async function measurePhase<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; seconds: number; cpuMicros: number; maxRssKiB: number }> {
  collectGarbage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { value, seconds, cpuMicros: cpu.user + cpu.system, maxRssKiB: process.resourceUsage().maxRSS };
}

/** Runs `fn`, adding its wall-clock seconds to `parts[name]`. */
export async function step<T>(parts: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    parts[name] = (parts[name] ?? 0) + (performance.now() - t0) / 1000;
  }
}

/** Search latencies: warm-up queries off the record, then each query alone, one after another. */
export async function measureSearch(
  job: Job,
  search: (query: string) => Promise<number>,
): Promise<{ queries: number; p50Ms: number; p95Ms: number; check: string }> {
  for (const q of job.warmupQueries) await search(q);
  const latencies: number[] = [];
  let short = 0;
  for (const q of job.queries) {
    const t0 = performance.now();
    const hits = await search(q);
    latencies.push(performance.now() - t0);
    if (hits !== 10) short++;
  }
  if (short > 0) throw new Error(`${short} of ${job.queries.length} searches returned other than 10 hits`);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  return { queries: latencies.length, p50Ms: at(0.5), p95Ms: at(0.95), check: `${latencies.length} × 10 hits` };
}

/** Fails the child loudly: the benchmark must not report figures of a side that did the wrong thing. */
export function expectEqual(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`${what}: ${actual}, expected ${expected}`);
}

export function readJob(): Job {
  const raw = process.env.REEMBED_BENCH_VSLC_JOB;
  if (!raw) throw new Error('REEMBED_BENCH_VSLC_JOB is not set: this script is a child of bench/vs-langchain.ts');
  return JSON.parse(raw) as Job;
}

export function report(result: ChildResult): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}
