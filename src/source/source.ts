import type { SourceConfig } from '../config/manifest.js';
import type { Queryable } from '../db/database.js';
import {
  ownIdentifier,
  qualifiedName,
  quoteIdentifier,
  schemaObject,
  SCHEMA_NAME,
  type SqlIdent,
} from '../db/identifiers.js';
import { templateColumns } from '../config/template.js';
import { ConfigError } from '../errors.js';

/** Id column types reembed can attach to; store rows keep the id as text and cast back. */
export const ID_TYPES = ['text', 'integer', 'bigint', 'uuid'] as const;
export type IdType = (typeof ID_TYPES)[number];

/** A source resolved against the database: everything SQL needs, validated and quoted. */
export interface Source {
  kind: 'managed' | 'attach';
  /** Quoted schema.table. */
  table: SqlIdent;
  schemaName: string;
  tableName: string;
  /** Quoted id column. */
  id: SqlIdent;
  idColumn: string;
  idType: IdType;
  /** The source's text template (profiles may override it). */
  template: string;
  columns: string[];
}

const ID_TYPE_BY_CATALOG: Record<string, IdType> = {
  text: 'text',
  'character varying': 'text',
  integer: 'integer',
  bigint: 'bigint',
  uuid: 'uuid',
};

/**
 * Resolves the manifest's source against the database: the table must exist, the id column
 * must be one of the supported types, and every template column must exist (this is where
 * templates of attached tables are checked).
 */
/** Column types an image input can be read from (reembed.image_key has an overload for each). */
const IMAGE_COLUMN_TYPES = ['bytea', 'text', 'character varying'];

export async function resolveSource(
  conn: Queryable,
  config: SourceConfig,
  templates: string[] = [],
  imageColumns: string[] = [],
): Promise<Source> {
  if (config.managed === true) {
    return {
      kind: 'managed',
      table: schemaObject('documents'),
      schemaName: SCHEMA_NAME,
      tableName: 'documents',
      id: ownIdentifier('id'),
      idColumn: 'id',
      idType: 'text',
      template: config.text,
      columns: ['id', 'content'],
    };
  }
  const name = qualifiedName(config.table, 'source.table');
  const { rows } = await conn.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [name.schema, name.table],
  );
  if (rows.length === 0)
    throw new ConfigError(
      `source.table: table ${name.schema}.${name.table} does not exist (or is not visible to this role)`,
    );
  const columns = rows.map((r) => r.column_name);
  const idRow = rows.find((r) => r.column_name === config.id);
  if (!idRow)
    throw new ConfigError(
      `source.id: column ${JSON.stringify(config.id)} does not exist in ${name.schema}.${name.table} (it has: ${columns.join(', ')})`,
    );
  const idType = ID_TYPE_BY_CATALOG[idRow.data_type];
  if (!idType)
    throw new ConfigError(
      `source.id: column ${config.id} has type ${idRow.data_type}; supported id types are ${ID_TYPES.join(', ')}`,
    );
  // Capture queues ids and the guarded write joins on them: a NULL id would make the
  // application's own INSERT fail in the trigger, and a repeated id would match two rows.
  const { rows: unique } = await conn.query(
    `SELECT 1 FROM pg_index i
     JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
     WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL
       AND a.attname = $3 AND a.attnotnull`,
    [name.schema, name.table, config.id],
  );
  if (unique.length === 0) {
    throw new ConfigError(
      `source.id: column ${config.id} of ${name.schema}.${name.table} must be the primary key, or NOT NULL with a unique index of its own`,
    );
  }
  const problems: string[] = [];
  for (const template of [config.text, ...templates]) {
    for (const c of templateColumns(template)) {
      if (!columns.includes(c))
        problems.push(
          `template ${JSON.stringify(template)}: column ${JSON.stringify(c)} does not exist in ${name.schema}.${name.table} (it has: ${columns.join(', ')})`,
        );
    }
  }
  for (const c of imageColumns) {
    const type = rows.find((r) => r.column_name === c)?.data_type;
    if (type !== undefined && !IMAGE_COLUMN_TYPES.includes(type))
      problems.push(
        `image column ${JSON.stringify(c)} of ${name.schema}.${name.table} has type ${type}; an image input reads bytea (the image) or text (a data URI, a path or a URL)`,
      );
  }
  if (problems.length) throw new ConfigError([...new Set(problems)]);
  return {
    kind: 'attach',
    table: name.sql,
    schemaName: name.schema,
    tableName: name.table,
    id: quoteIdentifier(config.id, 'source.id'),
    idColumn: config.id,
    idType,
    template: config.text,
    columns,
  };
}

/** Casts a text expression (a store's doc_id, a parameter) to the source's id type. */
export function castId(source: Source, textExpression: string): string {
  return source.idType === 'text' ? textExpression : `(${textExpression})::${source.idType}`;
}
