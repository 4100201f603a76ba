/**
 * Sticky, Unleash-compatible bucketing: a subject (user, session, tenant id) gets a bucket 1..100
 * from `murmur3_x86_32("<migration id>:<subject>", seed 0) % 100 + 1` and is in the canary when
 * bucket ≤ percent. This is Unleash's gradual/flexible rollout, with the migration id as the
 * group id, so teams that already roll out with Unleash flags see the same users in the canary.
 * Because a subject's bucket never changes, raising the percentage only ever adds subjects.
 */
// murmurhash3js is the exact package (and version line) Unleash's Node SDK and the
// client-specification's own fixture generator use. It hashes each UTF-16 code unit's low byte
// (`charCodeAt(i) & 0xff`), not UTF-8 bytes. For ASCII the two agree; for non-ASCII subjects
// this matches the Node SDK, while SDKs that hash UTF-8 (Go, the Rust engine Yggdrasil) can put
// the same subject in a different bucket. The client specification has no non-ASCII hashed
// input, so it does not settle the question; we follow the Node SDK. murmurhash3js-revisited
// was rejected: it hashes a byte array, so matching the Node SDK would mean re-creating the
// low-byte quirk by hand in front of it.
// The package is CommonJS without named exports, hence the default import.
import murmurhash3js from 'murmurhash3js';
import { ReembedError } from '../errors.js';

/** The seed Unleash uses for strategy (rollout) hashing; variants use another. */
const STRATEGY_SEED = 0;
const BUCKETS = 100;

/** A request's subject; absent values route to the control. */
export type Subject = string | null | undefined;

/**
 * Unleash's `normalizedValue(id, groupId, normalizer = 100, seed = 0)`:
 * `murmur3_x86_32("<groupId>:<id>", seed) % normalizer + 1`, a number in 1..normalizer.
 */
export function normalizedValue(id: string, groupId: string, normalizer = BUCKETS, seed = STRATEGY_SEED): number {
  if (!Number.isInteger(normalizer) || normalizer < 1) {
    throw new ReembedError('INVALID_NORMALIZER', `normalizer must be a positive integer, got ${normalizer}`);
  }
  return (murmurhash3js.x86.hash32(`${groupId}:${id}`, seed) % normalizer) + 1;
}

/** The subject's bucket (1..100) in this migration, or undefined when there is no subject. */
export function bucket(migrationId: string, subject: Subject): number | undefined {
  // Unleash treats an empty id like a missing one (`if (!userId) return false`); so do we.
  if (subject === undefined || subject === null || subject === '') return undefined;
  return normalizedValue(subject, migrationId);
}

/**
 * Whether the subject is in the canary at `percent` (0..100; 0 is nobody, 100 everybody with a
 * subject). A missing subject is never in the canary: without an id it cannot be sticky, and a
 * request that flips between profiles is worse than one that waits for the full rollout.
 */
export function inCanary(migrationId: string, subject: Subject, percent: number): boolean {
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
    // A percentage outside 0..100 is a bug upstream (config or controller), not a rollout choice.
    throw new ReembedError('INVALID_ROLLOUT_PERCENT', `rollout percent must be within 0..100, got ${percent}`, {
      details: { migrationId, percent },
    });
  }
  const b = bucket(migrationId, subject);
  return b !== undefined && b <= percent;
}
