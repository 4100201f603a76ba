/**
 * EMBEDDING_STRICT_MODE=true: a process serves its profile only from a ready store. The rule is
 * the one a candidate meets before it serves (backfill/readiness.ts: every row reached, no dead
 * letters, changes in flight within rollout.max_queue_lag, coverage at least
 * rollout.min_coverage), so a live system's writes in flight do not stop it.
 */
import { candidateReadiness } from '../backfill/readiness.js';
import type { Manifest } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { ProfileGateError } from '../errors.js';
import type { Source } from '../source/source.js';
import { FingerprintMismatchError } from '../store/store.js';
import { requireStore, StoreMissingError } from '../store/verify.js';

export async function requireStrictReady(
  db: Database,
  source: Source,
  profile: Profile,
  manifest: Manifest,
): Promise<void> {
  const refuse = (why: string, details: Record<string, unknown> = {}) =>
    new ProfileGateError(
      `EMBEDDING_STRICT_MODE is on and profile ${profile.name} is not ready to serve: ${why}; ` +
        `finish its backfill (\`reembed backfill --profile ${profile.name}\`, a running \`reembed worker\`) or unset EMBEDDING_STRICT_MODE`,
      { profile: profile.name, strict: true, ...details },
    );
  try {
    await requireStore(db, profile);
  } catch (error) {
    if (error instanceof StoreMissingError) throw refuse('it has no store');
    if (error instanceof FingerprintMismatchError)
      throw refuse(`its store holds vectors of another configuration (fingerprint ${String(error.details?.stored)})`);
    throw error;
  }
  const readiness = await candidateReadiness(db, source, profile, {
    maxQueueLagMs: manifest.rollout.maxQueueLag,
    minCoverage: manifest.rollout.minCoverage,
  });
  if (!readiness.ready) throw refuse(readiness.reasons.join('; '), { reasons: readiness.reasons });
}
