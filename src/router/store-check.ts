/**
 * Before a profile's store is searched for the first time by this router: it must exist, and
 * hold vectors of the profile's own fingerprint (invariant 1: never compare vectors of two
 * configurations). A store written by another configuration of the same profile name (a demo's
 * `hash_small`, then `init`'s) is refused with FingerprintMismatchError, a missing one with
 * StoreMissingError, instead of a raw database error or, worse, silently wrong results. Only a
 * passed check is remembered: a store made later is found by the next search.
 */
import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { requireStore } from '../store/verify.js';

export class StoreChecks {
  private readonly passed = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly db: Queryable) {}

  async require(profile: Profile): Promise<void> {
    const key = `${profile.name}\u0000${profile.fingerprint}`;
    if (this.passed.has(key)) return;
    let check = this.pending.get(key);
    if (!check) {
      check = requireStore(this.db, profile)
        .then(() => {
          this.passed.add(key);
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, check);
    }
    await check;
  }
}
