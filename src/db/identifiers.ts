import { IdentifierError } from '../errors.js';

declare const sqlIdent: unique symbol;
/**
 * SQL text that names something (a quoted identifier, or a schema-qualified name), made only
 * by the functions of this module. Whatever carries a name into SQL (a source's table and id
 * column, a store's table, a table constant) holds an SqlIdent, so a raw string from
 * configuration cannot be put there by mistake; the lint allows the cast nowhere else.
 */
export type SqlIdent = string & { readonly [sqlIdent]: true };

/** The one place a string becomes an SqlIdent, after the checks of the function that calls it. */
function asIdent(sql: string): SqlIdent {
  return sql as SqlIdent;
}

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
export function quoteIdentifier(name: string, what?: string): SqlIdent {
  return asIdent(`"${validateIdentifier(name, what).replaceAll('"', '""')}"`);
}

/** Parses and quotes "schema.table" or "table" (schema defaults to public). */
export function qualifiedName(name: string, what = 'table'): { schema: string; table: string; sql: SqlIdent } {
  const parts = name.split('.');
  if (parts.length > 2) throw new IdentifierError(`${what} ${JSON.stringify(name)} must be "table" or "schema.table"`);
  const [schema, table] = parts.length === 2 ? [parts[0]!, parts[1]!] : ['public', parts[0]!];
  return {
    schema: validateIdentifier(schema, `${what} schema`),
    table: validateIdentifier(table, `${what} name`),
    sql: qualify(quoteIdentifier(schema), quoteIdentifier(table)),
  };
}

/** `schema.name` of two identifiers. */
export function qualify(schema: SqlIdent, name: SqlIdent): SqlIdent {
  return asIdent(`${schema}.${name}`);
}

const OWN = /^[a-z_][a-z0-9_]*$/;

/**
 * One of reembed's own fixed names (its schema, tables, functions, columns), spliced without
 * quotes as the schema has always been written: only lower-case plain identifiers, which mean
 * the same quoted or not. Never for names from configuration: those go through quoteIdentifier.
 */
export function ownIdentifier(name: string): SqlIdent {
  if (!OWN.test(name) || Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES)
    throw new IdentifierError(`${JSON.stringify(name)} is not a lower-case plain identifier`);
  return asIdent(name);
}

/** reembed's own schema, as a value (to compare with catalog columns). */
export const SCHEMA_NAME = 'reembed';

/** reembed's own schema in SQL; everything it creates lives here. */
export const SCHEMA: SqlIdent = ownIdentifier(SCHEMA_NAME);

/** A table or function of reembed's own schema: `reembed.<name>`. */
export function schemaObject(name: string): SqlIdent {
  return qualify(SCHEMA, ownIdentifier(name));
}
