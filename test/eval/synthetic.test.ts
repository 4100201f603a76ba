import { describe, expect, it } from 'vitest';
import { generateDataset } from '../../src/eval/synthetic.js';

describe('synthetic dataset', () => {
  it('is deterministic per seed and different across seeds', () => {
    const a = generateDataset({ documents: 300, queries: 30, seed: 7 });
    const b = generateDataset({ documents: 300, queries: 30, seed: 7 });
    const c = generateDataset({ documents: 300, queries: 30, seed: 8 });
    expect(b).toEqual(a);
    expect(c.corpus[0]!.text).not.toBe(a.corpus[0]!.text);
  });

  it('has the requested sizes, unique ids, and judgments that point at real documents', () => {
    const d = generateDataset({ documents: 2000, queries: 200 });
    expect(d.corpus).toHaveLength(2000);
    expect(d.queries).toHaveLength(200);
    const ids = new Set(d.corpus.map((x) => x.id));
    expect(ids.size).toBe(2000);
    for (const q of d.queries) {
      const judged = d.qrels.get(q.id)!;
      expect(judged.size).toBeGreaterThan(0);
      expect([...judged.values()]).toContain(2);
      for (const doc of judged.keys()) expect(ids.has(doc)).toBe(true);
    }
  });
});
