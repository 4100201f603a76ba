import { IdentifierError } from '../errors.js';

/** PostgreSQL truncates identifiers beyond 63 bytes; reembed refuses them instead. */
const MAX_IDENTIFIER_BYTES = 63;
const SIMPLE = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/**
 * Validates one identifier that comes from configuration (a table, column or profile name).
 * Only plain identifiers are accepted: letters, digits, _ and $, not starting with a digit.
 * Quoting alone would make any string safe to splice, but a name with quotes, dots, spaces or
 * control characters in a config file is a mistake far more often than a wish, so it is an error.
 */
export function validateIdentifier(name: string, what = 'identifier'): string {
  if (typeof name !== 'string' || name.length === 0) throw new IdentifierError(`${what} is empty`);
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new IdentifierError(`${what} ${JSON.stringify(name)} is longer than ${MAX_IDENTIFIER_BYTES} bytes`);
  }
  if (!SIMPLE.test(name)) {
    throw new IdentifierError(
      `${what} ${JSON.stringify(name)} is not a plain SQL identifier (letters, digits, _ and $; not starting with a digit)`,
    );
  }
  return name;
}

/** Quotes a validated identifier. Quoting keeps case and reserved words (e.g. "user") working. */
export function quoteIdentifier(name: string, what?: string): string {
  return `"${validateIdentifier(name, what).replaceAll('"', '""')}"`;
}

/** Parses and quotes "schema.table" or "table" (schema defaults to public). */
export function qualifiedName(name: string, what = 'table'): { schema: string; table: string; sql: string } {
  const parts = name.split('.');
  if (parts.length > 2) throw new IdentifierError(`${what} ${JSON.stringify(name)} must be "table" or "schema.table"`);
  const [schema, table] = parts.length === 2 ? [parts[0]!, parts[1]!] : ['public', parts[0]!];
  return {
    schema: validateIdentifier(schema, `${what} schema`),
    table: validateIdentifier(table, `${what} name`),
    sql: `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`,
  };
}

/** reembed's own schema; everything it creates lives here. */
export const SCHEMA = 'reembed';
