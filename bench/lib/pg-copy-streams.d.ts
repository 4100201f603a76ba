// pg-copy-streams ships no types; this declares the one function the bench uses.
declare module 'pg-copy-streams' {
  import type { Writable } from 'node:stream';
  import type { Submittable } from 'pg';

  /** A COPY … FROM STDIN: pass it to client.query, write the payload, end it. */
  export interface CopyStreamQuery extends Writable, Submittable {
    /** Rows the server reported after the COPY finished. */
    rowCount: number;
  }

  export function from(text: string): CopyStreamQuery;
}
