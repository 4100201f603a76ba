/**
 * While the candidate is incomplete, what the control returns is what users read: documents
 * the control served that the candidate lacks (or has stale) are queued at high priority.
 */
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { staleNotFailed } from '../backfill/candidates.js';
import { enqueue, JIT_PRIORITY } from '../source/capture.js';
import type { Source } from '../source/source.js';
import type { SearchHit } from '../store/search.js';
import type { MigrationState } from '../migration/state.js';
import { candidateFilling } from './routing.js';
import type { RouterStats } from './types.js';

export class HotDocuments {
  private inFlight = false;

  constructor(
    private readonly db: Database,
    private readonly source: Source,
    private readonly profiles: Map<string, Profile>,
    private readonly stats: RouterStats,
    private readonly onError: (error: unknown) => void,
  ) {}

  queue(m: MigrationState, hits: SearchHit[]): void {
    if (hits.length === 0 || !candidateFilling(m)) return;
    // At most one check in flight: under load, skipping some is fine; piling them up is not.
    if (this.inFlight) return;
    const candidate = this.profiles.get(m.candidate);
    if (!candidate) return;
    this.inFlight = true;
    void (async () => {
      const ids = await staleNotFailed(
        this.db,
        this.source,
        candidate,
        hits.map((h) => h.id),
      );
      if (ids.length) {
        await enqueue(this.db, candidate.name, ids, JIT_PRIORITY);
        this.stats.hotDocumentsQueued += ids.length;
      }
    })()
      .catch((error: unknown) => this.onError(error))
      .finally(() => (this.inFlight = false));
  }
}
