import { describe, expect, it } from 'vitest';
import { buildCatalogue } from '../../../src/demo/fonts/catalogue.js';
import { FONT_QUERIES, fontQuerySet } from '../../../src/demo/fonts/queries.js';

describe('the fixed query set', () => {
  const fonts = buildCatalogue();

  it('answers every query from the fonts’ own metadata', () => {
    const set = fontQuerySet(fonts);
    expect(set.unanswered).toEqual([]);
    expect(set.queries.map((q) => q.id)).toEqual(FONT_QUERIES.map((q) => q.id));
    const byId = new Map(fonts.map((f) => [f.id, f]));
    const judged = (id: string) => [...set.qrels.get(id)!.keys()].map((k) => byId.get(k)!);
    expect(judged('q-bold-serif').every((f) => f.category === 'serif' && f.weight >= 190)).toBe(true);
    expect(judged('q-monospace').every((f) => f.monospace)).toBe(true);
    expect(judged('q-monospace')).toHaveLength(fonts.filter((f) => f.monospace).length);
    expect(judged('q-italic-sans').every((f) => f.category === 'sans' && f.italic)).toBe(true);
    for (const q of set.queries) expect([...set.qrels.get(q.id)!.values()].every((g) => g === 1)).toBe(true);
  });

  it('leaves out a query no font answers', () => {
    const serifsOnly = fonts.filter((f) => f.category === 'serif');
    const set = fontQuerySet(serifsOnly);
    expect(set.unanswered).toContain('q-monospace');
    expect(set.queries.some((q) => q.id === 'q-monospace')).toBe(false);
    expect(set.queries.some((q) => q.id === 'q-bold-serif')).toBe(true);
  });
});
