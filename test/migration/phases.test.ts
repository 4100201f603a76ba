/** The phase predicates every caller uses instead of its own list of phase names. */
import { describe, expect, it } from 'vitest';
import {
  candidateCatchingUp,
  candidateServes,
  candidateServesAll,
  controlCaptures,
  endedEarly,
  isEnded,
  PHASES,
  rolloutEnded,
  servingPercent,
  shadowsIn,
  type Phase,
} from '../../src/migration/phases.js';

const where = (p: (phase: Phase) => boolean) => PHASES.filter(p);

describe('phase predicates', () => {
  it('name the phases they stand for', () => {
    expect(where(isEnded)).toEqual(['cleaned', 'rolled_back', 'aborted']);
    expect(where(endedEarly)).toEqual(['rolled_back', 'aborted']);
    expect(where(rolloutEnded)).toEqual(['finalized', 'cleaned', 'rolled_back', 'aborted']);
    expect(where(candidateServesAll)).toEqual(['cutover', 'finalized', 'cleaned']);
    expect(where(controlCaptures)).toEqual([
      'planned',
      'backfilling',
      'shadow',
      'canary',
      'cutover',
      'rolled_back',
      'aborted',
    ]);
    expect(where(shadowsIn)).toEqual(['shadow', 'canary', 'cutover']);
    expect(where(candidateCatchingUp)).toEqual(['backfilling', 'shadow', 'canary']);
  });

  it('the candidate serves a subject from cutover on, and in canary when the subject is in it', () => {
    const asked: Phase[] = [];
    const inCanary = (phase: Phase) => () => (asked.push(phase), true);
    expect(where((p) => candidateServes(p, inCanary(p)))).toEqual(['canary', 'cutover', 'finalized', 'cleaned']);
    expect(asked).toEqual(['canary']);
    expect(candidateServes('canary', () => false)).toBe(false);
  });

  it('agree with the serving share', () => {
    for (const phase of PHASES) {
      expect(servingPercent(phase, 30) === 100).toBe(candidateServesAll(phase));
      expect(servingPercent(phase, 30) === 0).toBe(!candidateServes(phase, () => true));
    }
  });
});
