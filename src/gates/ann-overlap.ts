import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { checkAnn } from '../eval/ann-check.js';

/** The ANN gate's measurement (eval/ann-check.ts), for gates and alert rules alike. */
export async function annOverlap(
  db: Database,
  profile: Profile,
  queries: number,
): Promise<{ overlap: number; details: Record<string, unknown> }> {
  const r = await checkAnn(db, profile, { queries });
  return {
    overlap: r.overlap,
    details: {
      k: r.k,
      queries: r.queries,
      kind: r.kind,
      [r.parameter === 'ef_search' ? 'efSearch' : 'probes']: r.value,
      minOverlap: r.minOverlap,
      usedIndex: r.usedIndex,
    },
  };
}
