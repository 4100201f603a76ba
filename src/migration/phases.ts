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
  if (phase === 'cutover' || phase === 'finalized' || phase === 'cleaned') return 100;
  return 0;
}
