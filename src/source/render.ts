import { imageRefOf, type Profile } from '../config/profile.js';
import { parseTemplate, type ImageRef } from '../config/template.js';
import type { Migration } from '../db/migrations.js';
import { quoteIdentifier, SCHEMA } from '../db/identifiers.js';
import { quoteLiteral } from '../db/sql.js';

/**
 * `reembed.image_key(value)`: what the content hash covers of an image column. Overloaded on
 * the column's type, so one SQL expression serves every source: for bytea the sha256 of the
 * bytes themselves (a changed image changes the hash); for text (a data URI, a path or a URL)
 * the text, since the database cannot see the bytes behind a path or URL (a profile adds
 * `image_version` for those). Immutable, so triggers and workers compute the same key.
 */
export const renderMigrations: Migration[] = [
  {
    version: 22,
    name: 'image input keys',
    sql: `
      CREATE FUNCTION ${SCHEMA}.image_key(bytea) RETURNS bytea
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT sha256($1)';
      CREATE FUNCTION ${SCHEMA}.image_key(text) RETURNS bytea
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$SELECT convert_to($1, 'UTF8')$f$;`,
  },
];

/**
 * The SQL expression that renders a profile's input template for one source row, so triggers
 * and workers compute the same text. NULL columns render as empty text, like renderTemplate().
 */
export function renderSql(template: string, rowAlias: string): string {
  const alias = quoteIdentifier(rowAlias, 'row alias');
  const pieces = parseTemplate(template).map((p) =>
    'literal' in p
      ? quoteLiteral(p.literal)
      : `coalesce(${alias}.${quoteIdentifier(p.column, 'template column')}::text, '')`,
  );
  return pieces.length === 1 ? pieces[0]! : `(${pieces.join(' || ')})`;
}

/** The raw value of a row's image column (bytea or text), as the worker reads it. */
export function imageSql(image: ImageRef, rowAlias: string): string {
  return `${quoteIdentifier(rowAlias, 'row alias')}.${quoteIdentifier(image.column, 'image column')}`;
}

/**
 * What of the image input the content hash covers, as bytea: a marker (so a NULL image and an
 * empty one differ from no image input), the image key, and the rendered version template.
 */
function imagePartSql(image: ImageRef, rowAlias: string): string {
  const key = `coalesce(${SCHEMA}.image_key(${imageSql(image, rowAlias)}), '\\x'::bytea)`;
  const version = image.version ? renderSql(image.version, rowAlias) : `''`;
  return `'\\x00696d616765'::bytea || ${key} || convert_to(${quoteLiteral('\n')} || ${version}, 'UTF8')`;
}

/**
 * The content hash of a row for a profile: sha256 over the profile fingerprint and the
 * rendered text (and, for an image input, its key and version). Including the fingerprint
 * means the same text under another profile never counts as current.
 */
export function contentHashSql(template: string, fingerprint: string, rowAlias: string, image?: ImageRef): string {
  const text = `convert_to(${quoteLiteral(fingerprint + '\n')} || ${renderSql(template, rowAlias)}, 'UTF8')`;
  const material = image ? `${text} || ${imagePartSql(image, rowAlias)}` : text;
  return `encode(sha256(${material}), 'hex')`;
}

/** The content hash of a row for a profile, covering all of the profile's inputs. */
export function profileHashSql(profile: Pick<Profile, 'template' | 'fingerprint' | 'input'>, rowAlias: string): string {
  return contentHashSql(profile.template!, profile.fingerprint, rowAlias, imageRefOf(profile));
}

/**
 * SQL that holds when an update changed any input of the profile (trigger bodies: `new`/`old`).
 */
export function inputsChangedSql(profile: Pick<Profile, 'template' | 'input'>): string {
  const text = `${renderSql(profile.template!, 'new')} IS DISTINCT FROM ${renderSql(profile.template!, 'old')}`;
  const image = imageRefOf(profile);
  if (!image) return text;
  const version = image.version
    ? ` OR ${renderSql(image.version, 'new')} IS DISTINCT FROM ${renderSql(image.version, 'old')}`
    : '';
  return `${text} OR ${imageSql(image, 'new')} IS DISTINCT FROM ${imageSql(image, 'old')}${version}`;
}
