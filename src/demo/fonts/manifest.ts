/** The attach-mode table the story creates and fills: one row per font, its glyph as bytes. */
export const FONTS_SOURCE_TABLE = 'public.reembed_demo_fonts';
export const FONTS_COLUMNS = ['id', 'name', 'family', 'style', 'category', 'tags', 'glyph'] as const;

/** The text-only control: what the font search embedded before, the font's name. */
export const CONTROL_PROFILE = 'fonts_text';
/** The candidate: 4,096 dims, over pgvector's 4,000 for halfvec HNSW, so exact search. */
export const CANDIDATE_PROFILE = 'fonts_multimodal';
export const CANDIDATE_DIMS = 4096;

/** The text the candidate reads of a font beside its glyph: name, category and tags. */
export const CANDIDATE_TEXT = '{name} — {category} {tags}';

/**
 * The story's manifest. The control embeds the name alone, as text; the candidate embeds name,
 * category and tags with the glyph image, in 4,096 dims, through the built-in `hash-image`
 * provider (an offline stand-in for a multimodal model: appearance features of the image and
 * hashed text, each half of the vector; see docs/configuration.md).
 */
export function fontsManifest(table = FONTS_SOURCE_TABLE) {
  return {
    source: { table, id: 'id', text: '{name}', columns: [...FONTS_COLUMNS] },
    profiles: {
      [CONTROL_PROFILE]: {
        provider: 'hash',
        dims: 256,
        metric: 'cosine',
        template: '{name}',
        hash: { word_ngrams: [1, 1], char_ngrams: [3, 5], seed: 0 },
      },
      [CANDIDATE_PROFILE]: {
        provider: 'hash-image',
        dims: CANDIDATE_DIMS,
        metric: 'cosine',
        input: { text: CANDIDATE_TEXT, image: '{glyph}' },
        hash: { word_ngrams: [1, 2], char_ngrams: [3, 5], seed: 0 },
      },
    },
    environments: { development: { profile: CONTROL_PROFILE } },
  };
}

/** What the candidate's vectors are made of, as the story reports it. */
export const CANDIDATE_INPUTS = { text: CANDIDATE_TEXT, image: '{glyph}' };
