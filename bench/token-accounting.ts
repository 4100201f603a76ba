/**
 * Benchmark `tokens`: client CPU per document that the resilience layer spends on token
 * accounting with an HTTP provider's profile (cl100k_base), before and after issue 18.
 *
 * Both subjects run the same ResilientEmbedder over the same ~1.7 KB documents with a provider
 * stub that answers at once (with usage, like an OpenAI-compatible server), so the difference
 * between them is the accounting alone:
 * - exact: every input counted with cl100k BPE, as before (a counter that counts exactly but
 *   calls itself cheap makes the layer count every input, which is what it used to do);
 * - bound: what the layer does now, the UTF-8 byte length as the bound, BPE only for inputs
 *   longer in bytes than max_input_tokens (none of these documents).
 * The two alternate batch by batch, so both see the same contention on a shared machine; the
 * ratio is the figure to compare across machines.
 */
import { cpuUsage } from 'node:process';
import { performance } from 'node:perf_hooks';
import { buildManifest, getProfile } from '../src/config/manifest.js';
import type { ProviderClient } from '../src/embedders/provider.js';
import { ResilientEmbedder } from '../src/embedders/resilient.js';
import { loadCl100k, type TokenCounter } from '../src/embedders/tokens.js';
import { intFromEnv } from './lib/env.js';
import { collectGarbage, median } from './lib/measure.js';
import { formatNumber, printTable, writeResult } from './lib/report.js';

const documents = intFromEnv('REEMBED_BENCH_DOCS', 20_000);
const repeats = intFromEnv('REEMBED_BENCH_REPEATS', 3);
const DIMS = 8;
const WORDS = ['vector', 'search', 'migration', 'embedding', 'model', 'index', 'recall', 'latency', 'the', 'of'];

/** ~1.7 KB of word salad per document, different per document (a seeded walk over WORDS and numbers). */
function corpus(n: number): string[] {
  const out: string[] = [];
  let state = 1;
  for (let i = 0; i < n; i++) {
    const words: string[] = [`Document ${i}:`];
    let length = 0;
    while (length < 1700) {
      state = (state * 1103515245 + 12345) >>> 0;
      const word = state % 7 === 0 ? String(state % 100_000) : WORDS[state % WORDS.length]!;
      words.push(word);
      length += word.length + 1;
    }
    out.push(words.join(' '));
  }
  return out;
}

/** Answers at once with a constant vector per input and the usage an OpenAI-compatible server reports. */
const stub: ProviderClient = {
  provider: 'openai-compatible',
  embedBatch: async (texts) => ({ vectors: texts.map(() => [1, 0, 0, 0, 0, 0, 0, 0]), tokens: texts.length }),
};

interface Subject {
  name: string;
  embedder: ResilientEmbedder;
  cpuMicros: number;
}

async function main(): Promise<void> {
  const texts = corpus(documents);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const profile = getProfile(
    buildManifest(
      {
        profiles: {
          remote: { provider: 'openai-compatible', model: 'm', dims: DIMS, base_url: 'http://127.0.0.1:9/v1' },
        },
      },
      null,
    ),
    'remote',
  );
  const loadStart = performance.now();
  const cl100k = await loadCl100k();
  const loadMs = performance.now() - loadStart;
  // Counts exactly, but says it is cheap: the layer then counts every input, as it did before.
  const everyInput: TokenCounter = { ...cl100k, kind: 'approximate' };
  const subjects: Subject[] = [
    { name: 'exact (before)', embedder: new ResilientEmbedder(profile, stub, { tokenCounter: everyInput }) },
    { name: 'bound (after)', embedder: new ResilientEmbedder(profile, stub, { tokenCounter: cl100k }) },
  ].map((s) => ({ ...s, cpuMicros: 0 }));
  const batch = profile.batch_size;
  const runs: Record<string, number[]> = Object.fromEntries(subjects.map((s) => [s.name, []]));

  for (let r = 0; r <= repeats; r++) {
    collectGarbage();
    for (const s of subjects) s.cpuMicros = 0;
    for (let i = 0; i < texts.length; i += batch) {
      const slice = texts.slice(i, i + batch);
      for (const s of subjects) {
        const cpu = cpuUsage();
        const result = await s.embedder.embed(slice, 'document');
        const used = cpuUsage(cpu);
        s.cpuMicros += used.user + used.system;
        if (result.vectors.length !== slice.length) throw new Error(`${s.name}: wrong number of vectors`);
      }
    }
    // Run 0 warms the JIT up and is not counted.
    if (r > 0) for (const s of subjects) runs[s.name]!.push(s.cpuMicros / texts.length);
  }

  const perRow = Object.fromEntries(subjects.map((s) => [s.name, median(runs[s.name]!)]));
  const before = perRow['exact (before)']!;
  const after = perRow['bound (after)']!;
  console.log(
    `token accounting: ${formatNumber(documents)} documents of ${formatNumber(bytes / documents)} bytes on average, ` +
      `batches of ${batch}, provider stub answering at once; ${repeats} timed runs after an untimed one; ` +
      `loading cl100k_base took ${formatNumber(loadMs)} ms (once per process; "bound" never loads it for these documents)`,
  );
  printTable(
    'Client CPU per document in ResilientEmbedder.embed (user + system, median of runs)',
    ['accounting', 'CPU µs/doc', 'min-max', 'vs before'],
    subjects.map((s) => {
      const values = runs[s.name]!;
      return [
        s.name,
        formatNumber(perRow[s.name]!, 1),
        `${formatNumber(Math.min(...values), 1)}-${formatNumber(Math.max(...values), 1)}`,
        `${formatNumber(perRow[s.name]! / before, 3)}x`,
      ];
    }),
  );
  console.log(
    `\nsaved: ${formatNumber(before - after, 1)} µs of CPU per document (${formatNumber(before / after, 1)}x less)`,
  );
  const file = writeResult('tokens', {
    config: { documents, repeats, batch, bytesPerDocument: bytes / documents },
    loadMs,
    cpuMicrosPerDocument: perRow,
    runs,
  });
  console.log(`\nresult: ${file}`);
}

await main();
