/**
 * Token counting for input limits, batch budgets and rate limits.
 *
 * Remote models are measured with cl100k_base: exact for OpenAI's embedding models and a close
 * estimate for most others (their own tokenizers are rarely available offline). The hash
 * provider has no tokenizer and is benchmarked for throughput, so it uses the chars/4
 * approximation instead of paying for BPE on every text.
 *
 * BPE is expensive (about 1 ms of CPU for a 1.7 KB document, more than embedding it with the
 * hash provider), so the resilience layer counts exactly only where a count can change what
 * happens: a cl100k token covers at least one UTF-8 byte, so a text of at most
 * `max_input_tokens` bytes cannot be over the limit, and its byte length is an upper bound good
 * enough for batch and rate-limit budgets. See `bytesBound` and `estimateTokens`.
 */
import type { ProviderName } from '../config/profile.js';

export interface TokenCounter {
  readonly kind: 'cl100k_base' | 'o200k_base' | 'approximate';
  count(text: string): number;
  /** The longest prefix of `text` within `maxTokens`, and its token count. */
  truncate(text: string, maxTokens: number): { text: string; tokens: number };
}

const CHARS_PER_TOKEN = 4;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export const approximateTokens: TokenCounter = {
  kind: 'approximate',
  count: (text) => Math.ceil(text.length / CHARS_PER_TOKEN),
  truncate(text, maxTokens) {
    let end = Math.min(text.length, maxTokens * CHARS_PER_TOKEN);
    // Never cut a surrogate pair in half: the provider would see a lone surrogate.
    if (end < text.length && end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
    const kept = text.slice(0, end);
    return { text: kept, tokens: Math.ceil(kept.length / CHARS_PER_TOKEN) };
  },
};

interface Encoder {
  encode(text: string, allowedSpecial?: string[] | 'all', disallowedSpecial?: string[] | 'all'): number[];
  decode(tokens: number[]): string;
}

function bpeCounter(encoder: Encoder, kind: BpeName): TokenCounter {
  // Special-token text such as "<|endoftext|>" in a document is ordinary text to us: neither
  // allowed as a special token nor an error.
  const encode = (text: string): number[] => encoder.encode(text, [], []);
  return {
    kind,
    count: (text) => encode(text).length,
    truncate(text, maxTokens) {
      const tokens = encode(text);
      if (tokens.length <= maxTokens) return { text, tokens: tokens.length };
      // A cut can fall inside a multi-byte character, which decodes to U+FFFD: drop it.
      const kept = encoder.decode(tokens.slice(0, maxTokens)).replace(/\uFFFD+$/u, '');
      return { text: kept, tokens: encode(kept).length };
    },
  };
}

/**
 * An upper bound on the tokens of `text` for byte-level BPE tokenizers (cl100k and its kin):
 * every token covers at least one UTF-8 byte. Linear and allocation-free, unlike the count.
 */
export function bytesBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** UTF-8 bytes per cl100k token on typical text (English prose averages about 4). */
const BYTES_PER_TOKEN = 4;

/**
 * A central estimate of the tokens of a text of `bytes` UTF-8 bytes, for reports when neither
 * the provider nor the tokenizer counted them. Never more than the bound, never 0.
 */
export function estimateTokens(bytes: number): number {
  return Math.min(bytes, Math.max(1, Math.ceil(bytes / BYTES_PER_TOKEN)));
}

type BpeName = 'cl100k_base' | 'o200k_base';
const bpe = new Map<BpeName, Promise<TokenCounter>>();

/** Loads a BPE vocabulary once per process (about half a second, so only when a profile needs it). */
function loadBpe(name: BpeName): Promise<TokenCounter> {
  let counter = bpe.get(name);
  if (!counter) {
    counter = (async () => {
      const [{ Tiktoken }, ranks] = await Promise.all([
        import('js-tiktoken/lite'),
        name === 'o200k_base' ? import('js-tiktoken/ranks/o200k_base') : import('js-tiktoken/ranks/cl100k_base'),
      ]);
      return bpeCounter(new Tiktoken(ranks.default), name);
    })();
    bpe.set(name, counter);
  }
  return counter;
}

/** cl100k_base: OpenAI's embedding models' tokenizer, and the default for remote models. */
export function loadCl100k(): Promise<TokenCounter> {
  return loadBpe('cl100k_base');
}

/** o200k_base: OpenAI's newer models' tokenizer (byte-level BPE like cl100k). */
export function loadO200k(): Promise<TokenCounter> {
  return loadBpe('o200k_base');
}

export type TokenizerName = TokenCounter['kind'];

/**
 * The profile's tokenizer (`tokenizer:`), else the default: chars/4 for the hash provider,
 * cl100k_base for the others. Every kind counts at most one token per UTF-8 byte, so the byte
 * bound of the resilience layer holds for all of them.
 */
export function tokenCounterFor(provider: ProviderName, tokenizer?: TokenizerName): Promise<TokenCounter> {
  const kind = tokenizer ?? (provider === 'hash' || provider === 'hash-image' ? 'approximate' : 'cl100k_base');
  if (kind === 'approximate') return Promise.resolve(approximateTokens);
  return loadBpe(kind);
}
