import { ConfigError } from '../errors.js';

/** The image column a profile reads and the version template hashed with it, if it has one. */
export interface ImageRef {
  column: string;
  version?: string;
}

/** A parsed input template: literal text and column placeholders, in order. */
export type TemplatePart = { literal: string } | { column: string };

const PLACEHOLDER = /\{\{|\}\}|\{([^{}]*)\}/g;
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/**
 * Parses "{title}\n\n{body}" into parts. `{{` and `}}` are literal braces. Column names are
 * plain identifiers; anything else is a configuration error, so a template can never smuggle
 * SQL into the rendering expression.
 */
export function parseTemplate(template: string, where = 'template'): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    literal += template.slice(last, match.index);
    last = match.index + match[0].length;
    if (match[0] === '{{') literal += '{';
    else if (match[0] === '}}') literal += '}';
    else {
      const column = match[1]!.trim();
      if (!COLUMN_NAME.test(column)) {
        throw new ConfigError(`${where}: ${JSON.stringify(match[0])} is not a column placeholder (use {column_name})`);
      }
      if (literal) parts.push({ literal });
      literal = '';
      parts.push({ column });
    }
  }
  literal += template.slice(last);
  if (/[{}]/.test(template.slice(last))) {
    throw new ConfigError(
      `${where}: unbalanced brace in ${JSON.stringify(template)} (write {{ or }} for a literal brace)`,
    );
  }
  if (literal) parts.push({ literal });
  if (!parts.some((p) => 'column' in p)) {
    throw new ConfigError(`${where}: ${JSON.stringify(template)} names no column`);
  }
  return parts;
}

export function templateColumns(template: string): string[] {
  return [...new Set(parseTemplate(template).flatMap((p) => ('column' in p ? [p.column] : [])))];
}

/** Renders a template in JavaScript; the SQL rendering in source/ must agree with it. */
export function renderTemplate(template: string, row: Record<string, unknown>): string {
  return parseTemplate(template)
    .map((p) => ('literal' in p ? p.literal : row[p.column] == null ? '' : String(row[p.column])))
    .join('');
}
