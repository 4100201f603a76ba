import { describe, expect, it } from 'vitest';
import { approximateTokens, loadCl100k, loadO200k, tokenCounterFor } from '../../src/embedders/tokens.js';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import { ResilientEmbedder } from '../../src/embedders/resilient.js';
import { HashProvider } from '../../src/embedders/hash.js';

describe('token counting', () => {
  it('counts cl100k_base tokens exactly', async () => {
    const counter = await loadCl100k();
    expect(counter.kind).toBe('cl100k_base');
    expect(counter.count('hello world')).toBe(2);
    expect(counter.count('')).toBe(0);
    // Special-token text in a document is ordinary text: counted, never an error.
    expect(counter.count('before <|endoftext|> after')).toBeGreaterThan(3);
  });

  it('loads the tokenizer once', async () => {
    expect(await loadCl100k()).toBe(await loadCl100k());
    expect(await tokenCounterFor('openai-compatible')).toBe(await loadCl100k());
    expect(await tokenCounterFor('hash')).toBe(approximateTokens);
  });

  it('takes the profile’s tokenizer: o200k_base, cl100k_base or the chars/4 estimate', async () => {
    expect(await tokenCounterFor('openai-compatible', 'o200k_base')).toBe(await loadO200k());
    expect(await tokenCounterFor('hash', 'cl100k_base')).toBe(await loadCl100k());
    expect(await tokenCounterFor('ollama', 'approximate')).toBe(approximateTokens);
    const o200k = await loadO200k();
    expect(o200k.kind).toBe('o200k_base');
    // The two vocabularies differ: a text they split differently tells them apart.
    const text = 'Unterstützung für die Einbettungsmigration 日本語のテキスト';
    expect(o200k.count(text)).not.toBe((await loadCl100k()).count(text));

    // Truncation follows the profile's tokenizer, and a chosen tokenizer is part of the fingerprint.
    const manifest = buildManifest(
      {
        profiles: {
          plain: { provider: 'hash', dims: 8 },
          o200k: { provider: 'hash', dims: 8, tokenizer: 'o200k_base', max_input_tokens: 5 },
        },
      },
      null,
    );
    const profile = getProfile(manifest, 'o200k');
    expect(profile.fingerprint).not.toBe(
      getProfile(
        buildManifest({ profiles: { o200k: { provider: 'hash', dims: 8, max_input_tokens: 5 } } }, null),
        'o200k',
      ).fingerprint,
    );
    const embedder = new ResilientEmbedder(profile, new HashProvider(profile));
    const long = 'one two three four five six seven eight nine ten';
    const result = await embedder.embed([long], 'document');
    expect(result.truncated).toBe(1);
    expect(result.usage.tokens).toBe(5);
  });

  it('truncates to the first N tokens', async () => {
    const counter = await loadCl100k();
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    const { text: kept, tokens } = counter.truncate(text, 7);
    expect(tokens).toBe(7);
    expect(counter.count(kept)).toBe(7);
    expect(text.startsWith(kept)).toBe(true);
    expect(kept).toBe('The quick brown fox jumps over the');
    expect(counter.truncate('short', 7)).toEqual({ text: 'short', tokens: 1 });
  });

  it('never leaves half a character when a cut falls inside one', async () => {
    const counter = await loadCl100k();
    const text = '🙂🙂🙂🙂🙂 日本語のテキスト';
    for (let max = 1; max < counter.count(text); max++) {
      const { text: kept, tokens } = counter.truncate(text, max);
      expect(kept).not.toMatch(/\uFFFD/u);
      expect(tokens).toBeLessThanOrEqual(max);
      expect(text.startsWith(kept)).toBe(true);
    }
  });

  it('approximates with chars/4 without splitting surrogate pairs', () => {
    expect(approximateTokens.count('abcdefghi')).toBe(3);
    expect(approximateTokens.truncate('abcdefghij', 2)).toEqual({ text: 'abcdefgh', tokens: 2 });
    const { text } = approximateTokens.truncate('abc😀def', 1);
    expect(text).toBe('abc');
  });
});
