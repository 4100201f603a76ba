/**
 * EMBEDDING_NAMESPACE_MODE=isolated: a process serves its active profile only when the profile's
 * store belongs to its environment (store/namespace.ts); the first isolated process claims it.
 */
import type { ProfileResolution } from '../config/environment.js';
import type { Database } from '../db/database.js';
import { ProfileGateError } from '../errors.js';
import { claimProfile } from '../store/namespace.js';

export async function requireNamespace(
  db: Database,
  resolution: ProfileResolution & { active: string },
  actor: string,
): Promise<void> {
  const owner = await claimProfile(db, resolution.active, resolution.environment, actor);
  if (owner.environment === resolution.environment) return;
  throw new ProfileGateError(
    `EMBEDDING_NAMESPACE_MODE is isolated and profile ${resolution.active}'s store belongs to environment ` +
      `${JSON.stringify(owner.environment)} (claimed ${owner.claimedAt} by ${owner.claimedBy}), not to ${JSON.stringify(resolution.environment)}: ` +
      `give this environment a profile of its own (for example ${resolution.active}_${resolution.environment.replace(/[^a-z0-9_]/gi, '_')}), ` +
      `or use another database, or release the claim with \`reembed profiles release ${resolution.active}\``,
    {
      profile: resolution.active,
      environment: resolution.environment,
      owner: owner.environment,
      namespace: 'isolated',
    },
  );
}
