import type { Profile } from '../config/profile.js';
import type { Database, Queryable } from '../db/database.js';
import type { Source } from '../source/source.js';
import { estimateBackfill, prepareBackfill } from './backfill.js';
import { clearJitRequests } from './jit.js';
import { candidateReadiness, type ReadinessOptions } from './readiness.js';

/**
 * The backfill planning a migration asks for: the `backfill` hook of its lifecycle context
 * (migration/lifecycle.ts, BackfillPlanner). The lifecycle does not import backfill/
 * (DESIGN.md, Layers), so whoever opens a lifecycle hands it this.
 */
export const backfillPlanner = {
  /** What a full backfill of the profile would embed, without embedding. */
  estimate: (db: Database, source: Source, profile: Profile) => estimateBackfill(db, source, profile, null),
  /** Capture on, orphans gone, chunks planned, the just-in-time record started afresh; idempotent. */
  prepare: async (db: Database, source: Source, profile: Profile, profiles: Map<string, Profile>) => {
    await prepareBackfill(db, source, profile, profiles);
    await clearJitRequests(db, profile.name);
  },
  /** Readiness by lag: may the candidate serve while the application keeps writing? */
  readiness: (conn: Queryable, source: Source, profile: Profile, options: ReadinessOptions) =>
    candidateReadiness(conn, source, profile, options),
};
