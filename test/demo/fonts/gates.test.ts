import { describe, expect, it } from 'vitest';
import { cutoverGates, type GateEvidence } from '../../../src/demo/fonts/gates.js';
import type { RetrievalSummary } from '../../../src/eval/metrics.js';

const summary = (ndcgAt10: number): RetrievalSummary => ({
  recallAt1: 0,
  recallAt5: 0,
  recallAt10: 0,
  recallAt50: 0,
  mrrAt10: 0,
  ndcgAt10,
  containAt50: 0,
  judgedQueries: 14,
  unjudgedQueries: 0,
});

const healthy: GateEvidence = {
  coverage: 1,
  deadLetters: 0,
  verifyFailedChecks: 0,
  jit: { items: 12, seconds: 4 },
  candidateP95Ms: 40,
  offline: { control: summary(0.6), candidate: summary(0.59) },
};

const failing = (evidence: Partial<GateEvidence>, budgets = {}) =>
  cutoverGates({ ...healthy, ...evidence }, budgets)
    .filter((g) => !g.ok)
    .map((g) => g.name);

describe('the font story’s cutover gates', () => {
  it('pass on healthy evidence', () => {
    expect(failing({})).toEqual([]);
  });

  it('each fails on its own evidence', () => {
    expect(failing({ coverage: 0.995 })).toEqual(['coverage']);
    expect(failing({ deadLetters: 1 })).toEqual(['dead-letters']);
    expect(failing({ verifyFailedChecks: 2 })).toEqual(['verify']);
    expect(failing({ jit: { items: 9, seconds: 1 } })).toEqual(['jit-worker']);
    expect(failing({ jit: { items: 50, seconds: 300 } })).toEqual(['jit-worker']);
    expect(failing({ candidateP95Ms: 1000 })).toEqual(['latency-p95']);
    expect(failing({ offline: { control: summary(0.6), candidate: summary(0.57) } })).toEqual(['offline-ndcg@10']);
  });

  it('take other budgets when given', () => {
    expect(failing({ candidateP95Ms: 1500 }, { p95Ms: 2000 })).toEqual([]);
    expect(failing({ candidateP95Ms: 40 }, { p95Ms: 30 })).toEqual(['latency-p95']);
    expect(failing({ jit: { items: 50, seconds: 400 } }, { jitSeconds: 600 })).toEqual([]);
  });
});
