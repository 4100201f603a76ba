/**
 * An alert rule's life, as a pure function of what it was, what was observed and the time:
 * inactive → pending (the condition holds, for less than `for:`) → firing → resolved (back to
 * inactive). No I/O and no clock: the evaluator (alerts.ts) reads the stored state under a row
 * lock, calls stepAlert(), stores the result and sends the notification it names, so two
 * evaluators (the controller and `reembed watch`) send one notification per transition.
 */

export type AlertPhase = 'inactive' | 'pending' | 'firing';

export interface AlertState {
  phase: AlertPhase;
  /** When the condition began to hold (pending and firing), ms. */
  since: number | null;
  /** When the alert fired (firing), ms. */
  firedAt: number | null;
  /** When a firing (or repeat) notification was last sent, ms. */
  notifiedAt: number | null;
}

export const INACTIVE: AlertState = { phase: 'inactive', since: null, firedAt: null, notifiedAt: null };

/** One observation: the condition holds (true), does not (false), or there is no data (null). */
export type Breach = boolean | null;

/** What to tell the receivers after this step. */
export type AlertTransition = 'firing' | 'resolved' | 'repeat';

export interface AlertTiming {
  /** How long the condition must hold before the alert fires, ms. */
  forMs: number;
  /** A firing alert is notified again after this long; 0 never. */
  repeatMs: number;
}

export interface AlertStep {
  state: AlertState;
  transition: AlertTransition | null;
}

/**
 * The next state. No data never fires and never resolves: a pending alert goes back to
 * inactive (the condition was not seen to hold continuously), a firing one stays firing without
 * a repeat (nothing new was seen). A condition that no longer holds resolves a firing alert.
 */
export function stepAlert(prev: AlertState, breach: Breach, now: number, timing: AlertTiming): AlertStep {
  if (breach === null) {
    if (prev.phase === 'pending') return { state: INACTIVE, transition: null };
    return { state: prev, transition: null };
  }
  if (!breach) {
    if (prev.phase === 'firing') return { state: INACTIVE, transition: 'resolved' };
    return { state: INACTIVE, transition: null };
  }
  if (prev.phase === 'firing') {
    const due = timing.repeatMs > 0 && prev.notifiedAt !== null && now - prev.notifiedAt >= timing.repeatMs;
    return due ? { state: { ...prev, notifiedAt: now }, transition: 'repeat' } : { state: prev, transition: null };
  }
  const since = prev.phase === 'pending' && prev.since !== null ? prev.since : now;
  if (now - since >= timing.forMs)
    return { state: { phase: 'firing', since, firedAt: now, notifiedAt: now }, transition: 'firing' };
  return { state: { phase: 'pending', since, firedAt: null, notifiedAt: null }, transition: null };
}
