/** Which profile serves a subject, by the migration's phase (migration/phases.ts), percentage and the subject's bucket. */
import {
  candidateCatchingUp,
  candidateServes,
  candidateServesAll,
  controlCaptures,
  endedEarly,
  shadowsIn as shadowedPhase,
} from '../migration/phases.js';
import type { MigrationState } from '../migration/state.js';
import { targeted } from '../migration/targeting.js';
import { inCanary } from './bucket.js';

export interface Route {
  serving: string;
  /** The profile beside it: the fallback when the candidate serves, the shadow otherwise; null when there is none. */
  other: string | null;
  /** The candidate was chosen (it serves under its breaker, the control is its fallback). */
  candidateChosen: boolean;
}

export function routeFor(m: MigrationState | null, subject: string | null | undefined, defaultProfile: string): Route {
  if (!m || endedEarly(m.phase)) return { serving: m?.control ?? defaultProfile, other: null, candidateChosen: false };
  // Once the control's store stops following the source (finalize), it is neither a shadow nor a fallback.
  const controlAlive = controlCaptures(m.phase);
  // In canary: a switched-on segment or the percentage's buckets, never a denied subject.
  if (candidateServes(m.phase, () => targeted(m.targeting, subject, () => inCanary(m.id, subject, m.percent))))
    return { serving: m.candidate, other: controlAlive ? m.control : null, candidateChosen: true };
  return { serving: m.control, other: m.candidate, candidateChosen: false };
}

/** The profile most searches are served by (the candidate from cutover on): managed writes embed for it. */
export function servingForAll(m: MigrationState | null, defaultProfile: string): string {
  if (!m) return defaultProfile;
  return candidateServesAll(m.phase) ? m.candidate : m.control;
}

export function shadowsIn(m: MigrationState): boolean {
  return shadowedPhase(m.phase);
}

/** While the candidate is being filled, documents the control returns go first. */
export function candidateFilling(m: MigrationState): boolean {
  return candidateCatchingUp(m.phase);
}
