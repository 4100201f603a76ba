/** A result set; `rowCount` counts affected rows for writes. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** A binary COPY payload (see copy-binary.ts), header to trailer: one buffer or its chunks in order. */
export type CopyPayload = Uint8Array | Iterable<Uint8Array>;

/** Anything that runs SQL: a database, or one transaction or session of it. */
export interface Queryable {
  /** One statement with $1-style parameters. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** One or more statements without parameters. */
  exec(sql: string): Promise<void>;
  /**
   * Binary COPY into `target`, a quoted table name with an optional column list
   * (`reembed.t (a, b)`); returns the rows copied. On a transaction it is part of the
   * transaction. Bulk writes use it: nothing is parsed from text on either side.
   */
  copyFrom(target: string, payload: CopyPayload): Promise<number>;
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
  /**
   * Calls `onNotify` with the payload of every NOTIFY on `channel` until the returned function
   * is called. On a server this holds a connection of its own, reconnecting when it drops.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
