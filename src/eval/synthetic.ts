import type { Qrels } from './metrics.js';
import { seededRandom } from '../random.js';

/**
 * A retrieval dataset the project generates itself, so the demo needs no download. Documents
 * belong to topics and to small "cases" that share rare names; each query names a case (with
 * a typo now and then) and some of its topic's words. The case's main document is highly
 * relevant (grade 2), its sibling documents are relevant (grade 1). Deterministic per seed.
 */
export interface Dataset {
  corpus: Array<{ id: string; text: string }>;
  queries: Array<{ id: string; text: string }>;
  qrels: Qrels;
}

export interface SyntheticOptions {
  documents?: number;
  queries?: number;
  seed?: number;
}

const ONSETS = [
  'b',
  'c',
  'd',
  'f',
  'g',
  'h',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  't',
  'v',
  'z',
  'br',
  'st',
  'tr',
  'pl',
  'gr',
  'sh',
  'ch',
  'th',
];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'io', 'ou'];
const CODAS = ['', '', '', 'n', 'r', 's', 'l', 'm', 'x', 'nd', 'st'];

export function generateDataset(options: SyntheticOptions = {}): Dataset {
  const documents = options.documents ?? 2400;
  const queryCount = options.queries ?? 240;
  const random = seededRandom(options.seed ?? 42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const used = new Set<string>();
  const word = (syllables: number): string => {
    for (;;) {
      let w = '';
      for (let i = 0; i < syllables; i++) w += pick(ONSETS) + pick(VOWELS) + (i === syllables - 1 ? pick(CODAS) : '');
      if (!used.has(w)) {
        used.add(w);
        return w;
      }
    }
  };

  const common = Array.from({ length: 400 }, () => word(1 + Math.floor(random() * 2)));
  // Zipf-like background: early common words are far more frequent.
  const commonWord = () => common[Math.floor(common.length * random() ** 2.5)]!;
  const topics = Array.from({ length: 60 }, () => Array.from({ length: 25 }, () => word(2 + Math.floor(random() * 2))));

  interface Case {
    topic: number;
    names: [string, string];
    docs: string[];
  }
  const cases: Case[] = [];
  const corpus: Dataset['corpus'] = [];
  let docIndex = 0;
  while (docIndex < documents) {
    const c: Case = { topic: Math.floor(random() * topics.length), names: [word(3), word(3)], docs: [] };
    const size = Math.min(documents - docIndex, 1 + Math.floor(random() * 3));
    for (let j = 0; j < size; j++) {
      const id = `doc-${String(docIndex++).padStart(5, '0')}`;
      const topicWords = topics[c.topic]!;
      const title = [c.names[0], pick(topicWords), pick(topicWords)].join(' ');
      const body: string[] = [];
      const length = 50 + Math.floor(random() * 40);
      for (let i = 0; i < length; i++) {
        const r = random();
        body.push(r < 0.1 ? pick(c.names) : r < 0.35 ? pick(topicWords) : commonWord());
      }
      const text = `${title[0]!.toUpperCase()}${title.slice(1)}.\n\n${body.join(' ')}.`;
      corpus.push({ id, text });
      c.docs.push(id);
    }
    cases.push(c);
  }

  const queries: Dataset['queries'] = [];
  const qrels: Qrels = new Map();
  for (let q = 0; q < queryCount; q++) {
    const c = cases[Math.floor((q * cases.length) / queryCount)]!;
    let name = pick(c.names);
    if (random() < 0.3) {
      // A typo: swap two neighbouring letters, as people do.
      const i = 1 + Math.floor(random() * (name.length - 2));
      name = name.slice(0, i) + name[i + 1] + name[i] + name.slice(i + 2);
    }
    const words = [name, pick(topics[c.topic]!), pick(topics[c.topic]!), commonWord()];
    const id = `q-${String(q).padStart(4, '0')}`;
    queries.push({ id, text: words.join(' ') });
    qrels.set(id, new Map(c.docs.map((doc, j) => [doc, j === 0 ? 2 : 1])));
  }
  return { corpus, queries, qrels };
}
