import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../errors.js';
import { loadManifest } from './manifest.js';

export interface ProfileSettingEdit {
  /** The file that defines the profile: the manifest, or one of its `include:` files. */
  file: string;
  /** The key written, dotted for a nested one (`ef_search`, `index.probes`). */
  key: string;
  /** The value before, or null when the key was not set. */
  previous: unknown;
  /** False when the file already held this value (nothing was written). */
  changed: boolean;
}

function parse(path: string): { text: string; doc: Document } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) throw new ConfigError(`${path}: ${doc.errors[0]!.message.split('\n')[0]}`);
  return { text, doc };
}

/**
 * The file defining a profile, found the way loadManifest merges them: the manifest's own
 * `profiles:` first, then each `include:` file (paths relative to the manifest).
 */
export function profileFile(manifestPath: string, profile: string): { path: string; text: string; doc: Document } {
  const main = parse(manifestPath);
  if (isMap(main.doc.getIn(['profiles', profile]))) return { path: manifestPath, ...main };
  const includes = main.doc.get('include');
  for (const item of isSeq(includes) ? includes.items : []) {
    if (!isScalar(item) || typeof item.value !== 'string') continue;
    const path = resolve(dirname(manifestPath), item.value);
    const included = parse(path);
    if (isMap(included.doc.getIn(['profiles', profile]))) return { path, ...included };
  }
  throw new ConfigError(
    `profile ${profile} is not a mapping in ${manifestPath} or its include files, so its settings cannot be written`,
  );
}

/**
 * The edited text, changing nothing but the one value where the layout allows: an existing
 * scalar is replaced in place; a new key goes on its own line after the last key of a block
 * mapping, at that mapping's indentation. Anything else (a flow mapping such as
 * `{ provider: hash, dims: 8 }`) is written by the yaml Document API, which keeps comments and
 * key order but may normalize spacing elsewhere in the file.
 */
function editedText(
  text: string,
  doc: Document,
  profile: string,
  path: readonly string[],
  value: number | string,
): string {
  const key = path[path.length - 1]!;
  const map = doc.getIn(['profiles', profile, ...path.slice(0, -1)], true);
  const literal = typeof value === 'number' ? String(value) : JSON.stringify(value);
  if (isMap(map)) {
    const existing = map.get(key, true);
    if (isScalar(existing) && existing.range) {
      return text.slice(0, existing.range[0]) + literal + text.slice(existing.range[1]);
    }
    const first = map.items[0];
    const last = map.items[map.items.length - 1];
    const firstKey = first && isScalar(first.key) ? first.key : null;
    const lastEnd = last ? ((last.value as { range?: number[] } | null)?.range?.[1] ?? null) : null;
    if (existing === undefined && !map.flow && firstKey?.range && lastEnd !== null) {
      const lineStart = text.lastIndexOf('\n', firstKey.range[0] - 1) + 1;
      const indent = text.slice(lineStart, firstKey.range[0]);
      if (/^ *$/.test(indent)) {
        const eol = text.includes('\r\n') ? '\r\n' : '\n';
        // After the line the last value ends on (a block scalar's range already ends past its newline).
        let at = lastEnd;
        if (text[lastEnd - 1] !== '\n') {
          const newline = text.indexOf('\n', lastEnd);
          if (newline === -1) return `${text}${eol}${indent}${key}: ${literal}${eol}`;
          at = newline + 1;
        }
        return `${text.slice(0, at)}${indent}${key}: ${literal}${eol}${text.slice(at)}`;
      }
    }
  }
  doc.setIn(['profiles', profile, ...path], value);
  return doc.toString({ lineWidth: 0 });
}

/**
 * Sets one setting of a profile in the file that defines it, keeping comments and layout, then
 * loads the manifest again to prove it is still valid and holds the value; if not, the file is
 * restored and a ConfigError raised. Only settings outside the fingerprint (such as ef_search)
 * should be written this way: changing a fingerprinted setting would orphan the profile's store.
 */
export function setProfileSetting(
  manifestPath: string,
  profile: string,
  keyPath: string | readonly string[],
  value: number | string,
): ProfileSettingEdit {
  const keys = typeof keyPath === 'string' ? [keyPath] : keyPath;
  const key = keys.join('.');
  const { path, text, doc } = profileFile(manifestPath, profile);
  const node = doc.getIn(['profiles', profile, ...keys]);
  const previous = node === undefined ? null : node;
  if (previous === value) return { file: path, key, previous, changed: false };
  const next = editedText(text, doc, profile, keys, value);
  writeFileSync(path, next);
  try {
    let written: unknown = loadManifest(manifestPath).profiles.get(profile);
    for (const k of keys) written = (written as Record<string, unknown> | undefined)?.[k];
    if (written !== value) throw new ConfigError(`${path}: ${key} of profile ${profile} did not read back`);
  } catch (error) {
    writeFileSync(path, text);
    throw error instanceof ConfigError
      ? error
      : new ConfigError(`${path}: writing ${key} failed: ${String(error)}`, { cause: error });
  }
  return { file: path, key, previous, changed: true };
}
