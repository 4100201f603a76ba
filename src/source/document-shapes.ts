import type { DocumentInput } from './managed.js';

/**
 * The JSON Lines shapes `reembed load` reads:
 * - beir: a BEIR corpus.jsonl line, `{"_id", "title", "text", "metadata"}`;
 * - plain: `{"id", "text"}` (or `content` instead of `text`), every other key is metadata.
 */
export const LOAD_FORMATS = ['beir', 'plain', 'auto'] as const;
/** Documents per INSERT statement of `load`. */
export const DEFAULT_LOAD_BATCH_SIZE = 500;
export type LoadFormat = (typeof LOAD_FORMATS)[number];
export type DocumentShape = Exclude<LoadFormat, 'auto'>;

/** Why one JSON value is not a document; the caller adds the file and line. */
export class ShapeError extends Error {}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Auto-detection looks at the first document only, so a file is read with one shape throughout. */
export function detectShape(first: unknown): DocumentShape {
  return isObject(first) && '_id' in first ? 'beir' : 'plain';
}

export function toDocument(value: unknown, shape: DocumentShape): DocumentInput {
  if (!isObject(value)) throw new ShapeError(`expected a JSON object, got ${describe(value)}`);
  return shape === 'beir' ? fromBeir(value) : fromPlain(value);
}

function fromBeir(value: JsonObject): DocumentInput {
  const { _id, title, text, metadata, ...rest } = value;
  const id = documentId(_id, '_id');
  const body = requiredText(text, 'text');
  if (title !== undefined && title !== null && typeof title !== 'string') {
    throw new ShapeError(`"title" must be a string, got ${describe(title)}`);
  }
  checkText(title ?? '', 'title');
  const meta: JsonObject = { ...metadataObject(metadata), ...rest };
  // The title is kept in metadata even when empty, so the original record can be rebuilt.
  if (typeof title === 'string') meta.title = title;
  checkJson(meta, 'metadata');
  return { id, content: title ? `${title}\n\n${body}` : body, metadata: meta };
}

function fromPlain(value: JsonObject): DocumentInput {
  const { id: rawId, text, content, metadata, ...rest } = value;
  const id = documentId(rawId, 'id');
  if (text !== undefined && content !== undefined) {
    throw new ShapeError('has both "text" and "content"; give the document text in one of them');
  }
  const body = requiredText(text ?? content, text !== undefined || content === undefined ? 'text' : 'content');
  const meta = metadataObject(metadata);
  for (const [key, v] of Object.entries(rest)) {
    // Own keys only: "toString" or "constructor" are ordinary keys here, and "__proto__" is
    // defined as data, never assigned (which would set the object's prototype instead).
    if (Object.hasOwn(meta, key)) throw new ShapeError(`key "${key}" is both a top-level key and in "metadata"`);
    Object.defineProperty(meta, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  checkJson(meta, 'metadata');
  return { id, content: body, metadata: meta };
}

/**
 * Ids are text in the managed source. A whole number is accepted as its decimal string, but
 * only when JSON parsing kept it exact: 12345678901234567890 would already have been rounded,
 * and storing the rounded id would silently be another document.
 */
function documentId(value: unknown, key: string): string {
  if (value === undefined) throw new ShapeError(`missing "${key}"`);
  let id: string;
  if (typeof value === 'string') id = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) id = String(value);
  else if (typeof value === 'number') {
    throw new ShapeError(
      `"${key}" ${value} is a number that is not a whole number below 2^53 (JSON numbers beyond that lose digits); quote the id as a string`,
    );
  } else throw new ShapeError(`"${key}" must be a string or a whole number, got ${describe(value)}`);
  if (id.length === 0) throw new ShapeError(`"${key}" is empty`);
  checkText(id, key);
  return id;
}

function requiredText(value: unknown, key: string): string {
  if (value === undefined || value === null) throw new ShapeError(`missing "${key}" (the document text)`);
  if (typeof value !== 'string') throw new ShapeError(`"${key}" must be a string, got ${describe(value)}`);
  checkText(value, key);
  return value;
}

function metadataObject(value: unknown): JsonObject {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new ShapeError(`"metadata" must be an object, got ${describe(value)}`);
  return { ...value };
}

/** A lone UTF-16 surrogate (from a JSON escape like "\ud800") has no UTF-8 form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What PostgreSQL text (and jsonb) cannot hold exactly: NUL, and unpaired surrogates. */
function checkText(value: string, where: string): void {
  if (value.includes('\u0000')) {
    throw new ShapeError(`"${where}" contains a NUL character (\\u0000), which PostgreSQL text cannot store`);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new ShapeError(`"${where}" contains an unpaired UTF-16 surrogate escape, which is not valid Unicode`);
  }
}

/** Deeper metadata is refused: it would overflow the stack of whatever walks it next. */
const MAX_DEPTH = 64;

function checkJson(value: unknown, where: string, depth = 0): void {
  if (depth > MAX_DEPTH) throw new ShapeError(`"${where.split(/[.[]/)[0]}" nests deeper than ${MAX_DEPTH} levels`);
  if (typeof value === 'string') checkText(value, where);
  else if (typeof value === 'number' && !Number.isFinite(value))
    throw new ShapeError(`"${where}" is a number JSON cannot hold (it overflows to ${value}); quote it as a string`);
  else if (Array.isArray(value)) value.forEach((v, i) => checkJson(v, `${where}[${i}]`, depth + 1));
  else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      checkText(k, `${where} key ${JSON.stringify(k)}`);
      checkJson(v, `${where}.${k}`, depth + 1);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * A document handed to the library's upsert must meet what a loaded line meets: an id that is a
 * non-empty string PostgreSQL can store exactly, a string text, metadata a JSON object.
 */
export function checkDocumentInput(doc: unknown): void {
  if (!isObject(doc)) throw new ShapeError(`a document must be an object, got ${describe(doc)}`);
  const { id, content, metadata } = doc as { id?: unknown; content?: unknown; metadata?: unknown };
  if (typeof id !== 'string') throw new ShapeError(`"id" must be a string, got ${describe(id)}`);
  if (id.length === 0) throw new ShapeError('"id" is empty');
  checkText(id, 'id');
  requiredText(content, 'content');
  if (metadata !== undefined) checkJson(metadataObject(metadata), 'metadata');
}
