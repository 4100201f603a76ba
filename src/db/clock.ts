import type { Queryable } from './database.js';

/**
 * The database's clock, rounded up to the millisecond a JavaScript Date can hold.
 *
 * The server stamps rows in microseconds; a Date truncates them. Read truncated, a clock taken
 * just after a row was written can sort before that row's stamp (both within one millisecond),
 * and a measurement bounded by it (`recorded_at <= now`) misses the row. Rounded up, every row
 * stamped before the read is at or before the value returned.
 */
export async function databaseNow(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ ms: string }>(
    'SELECT ceil(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms',
  );
  return new Date(Number(rows[0]!.ms));
}

/** The database's time `ms` milliseconds ago (rows are stamped by the database's clock, not this machine's). */
export async function databaseTimeAgo(db: Queryable, ms: number): Promise<Date> {
  const { rows } = await db.query<{ at: Date }>(
    'SELECT clock_timestamp() - make_interval(secs => $1::double precision / 1000) AS at',
    [ms],
  );
  return new Date(rows[0]!.at);
}
