import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseNow } from '../../src/db/clock.js';
import type { Database } from '../../src/db/database.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

describe.each(BACKENDS)('database clock on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
  });
  afterAll(async () => {
    await db.close();
  });

  it('never reads earlier than a stamp the database made before the read, to the microsecond', async () => {
    // Read right after a stamp, the clock is usually within the same millisecond: a truncated
    // reading (what a Date makes of a timestamptz) sorts before the stamp and fails here.
    let late = 0;
    for (let i = 0; i < 300; i++) {
      const { rows } = await db.query<{ us: string }>(
        'SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us',
      );
      const stamped = BigInt(rows[0]!.us);
      const now = await databaseNow(db);
      if (BigInt(now.getTime()) * 1000n < stamped) late++;
    }
    expect(late).toBe(0);
    const now = await databaseNow(db);
    expect(Math.abs(now.getTime() - Date.now())).toBeLessThan(60_000);
  });
});
