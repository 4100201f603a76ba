/** A result set; `rowCount` counts affected rows for writes. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Anything that runs SQL: a database, or one transaction or session of it. */
export interface Queryable {
  /** One statement with $1-style parameters. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** One or more statements without parameters. */
  exec(sql: string): Promise<void>;
}

export type DatabaseKind = 'pglite' | 'postgres';

/**
 * One interface over the embedded database (PGlite) and a PostgreSQL server (node-postgres).
 * Everything above db/ talks to this, never to a driver, so every feature works on both.
 */
export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /** Where it is, with any password removed: safe to print. */
  readonly target: string;
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs fn on one pinned connection (session-level settings, advisory locks, LISTEN). */
  session<T>(fn: (conn: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
