/** Which profile serves a subject, by the migration's phase, percentage and the subject's bucket. */
import type { MigrationState } from '../migration/state.js';
import { inCanary } from './bucket.js';

export interface Route {
  serving: string;
  /** The profile beside it: the fallback when the candidate serves, the shadow otherwise; null when there is none. */
  other: string | null;
  /** The candidate was chosen (it serves under its breaker, the control is its fallback). */
  candidateChosen: boolean;
}

/** Phases in which the control's store still follows the source (a shadow or a fallback). */
const CONTROL_FOLLOWS = new Set(['planned', 'backfilling', 'shadow', 'canary', 'cutover']);
/** Phases in which the candidate serves everyone. */
const CANDIDATE_SERVES_ALL = new Set(['cutover', 'finalized', 'cleaned']);
/** Phases in which shadow reads may run. */
const SHADOWED = new Set(['shadow', 'canary', 'cutover']);
/** Phases in which the candidate is still being filled: documents the control returns go first. */
const FILLING = new Set(['backfilling', 'shadow', 'canary']);

export function routeFor(m: MigrationState | null, subject: string | null | undefined, defaultProfile: string): Route {
  if (!m || m.phase === 'rolled_back' || m.phase === 'aborted')
    return { serving: m?.control ?? defaultProfile, other: null, candidateChosen: false };
  const candidateServes =
    CANDIDATE_SERVES_ALL.has(m.phase) || (m.phase === 'canary' && inCanary(m.id, subject, m.percent));
  // Once the control's store stops following the source (finalize), it is neither a shadow nor a fallback.
  const controlAlive = CONTROL_FOLLOWS.has(m.phase);
  if (candidateServes) return { serving: m.candidate, other: controlAlive ? m.control : null, candidateChosen: true };
  return { serving: m.control, other: m.candidate, candidateChosen: false };
}

/** The profile most searches are served by (the candidate from cutover on): managed writes embed for it. */
export function servingForAll(m: MigrationState | null, defaultProfile: string): string {
  if (!m) return defaultProfile;
  return CANDIDATE_SERVES_ALL.has(m.phase) ? m.candidate : m.control;
}

export function shadowsIn(m: MigrationState): boolean {
  return SHADOWED.has(m.phase);
}

export function candidateFilling(m: MigrationState): boolean {
  return FILLING.has(m.phase);
}
