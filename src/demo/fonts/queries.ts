import type { Qrels } from '../../eval/metrics.js';
import type { EvalQuery } from '../../eval/beir.js';
import { isBold, isLight } from './category.js';
import type { FontRecord } from './catalogue.js';

/** A query of the story's fixed set, and which fonts answer it by their own metadata. */
interface FontQuery extends EvalQuery {
  relevant: (font: FontRecord) => boolean;
}

const bold = (f: FontRecord) => isBold(f.weight);
const light = (f: FontRecord) => isLight(f.weight);
const upright = (f: FontRecord) => !f.italic;

/**
 * The fixed query set: what a user types to find a font, each answered by the fonts whose
 * metadata match (category, weight, slant, width). Every font that matches is relevant
 * (grade 1); the text never names a font.
 */
export const FONT_QUERIES: readonly FontQuery[] = [
  { id: 'q-bold-serif', text: 'bold serif', relevant: (f) => f.category === 'serif' && bold(f) },
  { id: 'q-italic-serif', text: 'italic serif', relevant: (f) => f.category === 'serif' && f.italic },
  {
    id: 'q-regular-serif',
    text: 'regular serif',
    relevant: (f) => f.category === 'serif' && !bold(f) && !light(f) && upright(f),
  },
  {
    id: 'q-bold-italic-serif',
    text: 'bold italic serif',
    relevant: (f) => f.category === 'serif' && bold(f) && f.italic,
  },
  { id: 'q-sans', text: 'sans serif', relevant: (f) => f.category === 'sans' },
  { id: 'q-bold-sans', text: 'bold sans', relevant: (f) => f.category === 'sans' && bold(f) },
  { id: 'q-italic-sans', text: 'italic sans', relevant: (f) => f.category === 'sans' && f.italic },
  { id: 'q-light-sans', text: 'light sans', relevant: (f) => f.category === 'sans' && light(f) },
  { id: 'q-condensed-sans', text: 'condensed sans', relevant: (f) => f.category === 'sans' && f.condensed },
  { id: 'q-monospace', text: 'monospace', relevant: (f) => f.category === 'mono' },
  { id: 'q-bold-monospace', text: 'bold monospace', relevant: (f) => f.category === 'mono' && bold(f) },
  { id: 'q-italic-monospace', text: 'italic monospace', relevant: (f) => f.category === 'mono' && f.italic },
  { id: 'q-display', text: 'display handwriting script', relevant: (f) => f.category === 'display' },
  { id: 'q-bold-display', text: 'bold display', relevant: (f) => f.category === 'display' && bold(f) },
];

export interface FontQuerySet {
  queries: EvalQuery[];
  /** BEIR's judgments, in the shape the eval code scores (src/eval/metrics.ts). */
  qrels: Qrels;
  /** Queries no font of this catalogue answers: left out, as BEIR leaves out unjudged queries. */
  unanswered: string[];
}

/** The fixed queries with their known answers in `fonts`. */
export function fontQuerySet(fonts: readonly FontRecord[]): FontQuerySet {
  const queries: EvalQuery[] = [];
  const qrels: Qrels = new Map();
  const unanswered: string[] = [];
  for (const q of FONT_QUERIES) {
    const relevant = fonts.filter(q.relevant);
    if (relevant.length === 0) {
      unanswered.push(q.id);
      continue;
    }
    queries.push({ id: q.id, text: q.text });
    qrels.set(q.id, new Map(relevant.map((f) => [f.id, 1])));
  }
  return { queries, qrels, unanswered };
}
