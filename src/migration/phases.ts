/** A migration's life; `rolled_back` and `aborted` end it early, `cleaned` ends it done. */
export const PHASES = [
  'planned',
  'backfilling',
  'shadow',
  'canary',
  'cutover',
  'finalized',
  'cleaned',
  'rolled_back',
  'aborted',
] as const;
export type Phase = (typeof PHASES)[number];

export const TERMINAL_PHASES: readonly Phase[] = ['cleaned', 'rolled_back', 'aborted'];

/** The migration has ended (cleaned, rolled back or aborted): a source may start another. */
export function isEnded(phase: Phase): boolean {
  return TERMINAL_PHASES.includes(phase);
}

/** The candidate was given up: rolled back, or aborted before it served. */
export function endedEarly(phase: Phase): boolean {
  return phase === 'rolled_back' || phase === 'aborted';
}

/**
 * Nothing is left to roll out: finalized, or ended. (A rollback stays possible after
 * finalize, but only a person's, never a controller's.)
 */
export function rolloutEnded(phase: Phase): boolean {
  return phase === 'finalized' || isEnded(phase);
}

/** The candidate serves every search: from cutover on (until a rollback). */
export function candidateServesAll(phase: Phase): boolean {
  return phase === 'cutover' || phase === 'finalized' || phase === 'cleaned';
}

/**
 * Whether the candidate serves a subject: everyone's from cutover on, the canary's buckets in
 * canary (`inCanary` is asked only then), nobody's before or after a rollback.
 */
export function candidateServes(phase: Phase, inCanary: () => boolean): boolean {
  return candidateServesAll(phase) || (phase === 'canary' && inCanary());
}

/**
 * The control's store still follows the source (its capture is on): in every phase but
 * finalized and cleaned. After that it is neither a shadow nor a fallback, and a rollback
 * needs a catch-up backfill first.
 */
export function controlCaptures(phase: Phase): boolean {
  return phase !== 'finalized' && phase !== 'cleaned';
}

/** Phases in which sampled searches are shadow-read on the other profile. */
export const SHADOW_PHASES: readonly Phase[] = ['shadow', 'canary', 'cutover'];

/** Shadow reads run in this phase (when the migration's shadow sample is above 0). */
export function shadowsIn(phase: Phase): boolean {
  return SHADOW_PHASES.includes(phase);
}

/**
 * Phases in which the candidate's store is still filled or caught up (backfill, the capture
 * queue) while the control serves at least some searches.
 */
export const CATCHING_UP_PHASES: readonly Phase[] = ['backfilling', 'shadow', 'canary'];

/** The candidate may still miss documents the control serves (see CATCHING_UP_PHASES). */
export function candidateCatchingUp(phase: Phase): boolean {
  return CATCHING_UP_PHASES.includes(phase);
}

/**
 * Phases in which a controller measures serving windows: shadow gates in shadow and canary,
 * online gates in canary and (watching cutover) at cutover.
 */
export const MEASURED_PHASES: readonly Phase[] = ['shadow', 'canary', 'cutover'];

export type Action = 'start' | 'shadow' | 'ramp' | 'cutover' | 'finalize' | 'cleanup' | 'rollback' | 'abort';

/** The phases each action may start from, and where it leads. */
export const TRANSITIONS: Record<Action, { from: readonly Phase[]; to: Phase | 'same-or-canary' }> = {
  start: { from: ['planned'], to: 'backfilling' },
  // Shadow reads may start before the backfill ends (an early look) and be re-sampled later.
  shadow: { from: ['backfilling', 'shadow', 'canary'], to: 'same-or-canary' },
  ramp: { from: ['shadow', 'canary'], to: 'canary' },
  cutover: { from: ['canary'], to: 'cutover' },
  finalize: { from: ['cutover'], to: 'finalized' },
  cleanup: { from: ['finalized'], to: 'cleaned' },
  // Rollback is always allowed, from every phase that has not ended.
  rollback: {
    from: ['planned', 'backfilling', 'shadow', 'canary', 'cutover', 'finalized', 'cleaned'],
    to: 'rolled_back',
  },
  // Abort is for a candidate that never served traffic.
  abort: { from: ['planned', 'backfilling', 'shadow'], to: 'aborted' },
};

/** Phases in which the candidate's store must be complete and verified before entering. */
export const NEEDS_COMPLETE_CANDIDATE: readonly Action[] = ['ramp', 'cutover'];

/** The phase an action leads to from `phase`, or a message saying why it cannot. */
export function nextPhase(action: Action, phase: Phase): { to: Phase } | { refused: string } {
  const rule = TRANSITIONS[action];
  if (!rule.from.includes(phase)) {
    const allowed = rule.from.join(', ');
    return { refused: `cannot ${action} a migration in phase ${phase} (allowed from: ${allowed})` };
  }
  if (rule.to === 'same-or-canary') return { to: phase === 'canary' ? 'canary' : 'shadow' };
  return { to: rule.to };
}

/** Which profile serves, by phase: the candidate only from canary on, and never after a rollback. */
export function servingPercent(phase: Phase, percent: number): number {
  if (phase === 'canary') return percent;
  if (candidateServesAll(phase)) return 100;
  return 0;
}
