import { parseTemplate } from '../config/template.js';
import { quoteIdentifier } from '../db/identifiers.js';
import { quoteLiteral } from '../db/sql.js';

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

/**
 * The content hash of a row for a profile: sha256 over the profile fingerprint and the
 * rendered text. Including the fingerprint means the same text under another profile never
 * counts as current.
 */
export function contentHashSql(template: string, fingerprint: string, rowAlias: string): string {
  return `encode(sha256(convert_to(${quoteLiteral(fingerprint + '\n')} || ${renderSql(template, rowAlias)}, 'UTF8')), 'hex')`;
}
