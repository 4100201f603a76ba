import type { RetrievalSummary } from '../../eval/metrics.js';

/** One of the runbook's cutover gates, measured by the story. */
export interface FontGate {
  name: string;
  /** What was measured, in the gate's unit. */
  value: number;
  /** The condition, as the runbook states it. */
  condition: string;
  ok: boolean;
}

export interface GateEvidence {
  /** The candidate's coverage, counted: current rows / source rows. */
  coverage: number;
  /** The candidate's rows in reembed.failures. */
  deadLetters: number;
  /** verify's checks that failed on the candidate's store (zero, NaN, wrong-dimension vectors…). */
  verifyFailedChecks: number;
  /** Just-in-time requests the worker completed, and the longest any waited from the search that asked for it. */
  jit: { items: number; seconds: number };
  /** p95 of embed + search of the searches the candidate served, ms. */
  candidateP95Ms: number;
  /** The fixed query set, searched through each profile. */
  offline: { control: RetrievalSummary; candidate: RetrievalSummary };
}

/** The time budgets of the gates: the runbook's by default (a slower machine's tests scale them). */
export interface GateBudgets {
  p95Ms?: number;
  jitSeconds?: number;
}

/** The runbook's budget for one search: embedding the query and searching, at the 95th percentile. */
export const P95_BUDGET_MS = 1000;
/** The runbook's worker gate: at least this many items … */
export const JIT_MIN_ITEMS = 10;
/** … in under this long. */
export const JIT_MAX_SECONDS = 300;
/** The candidate may lose at most this much nDCG@10 on the fixed query set. */
export const MAX_NDCG_DECREASE = 0.02;

/**
 * The runbook's cutover gates: every font has a valid new embedding (coverage 100%, no dead
 * letters, a clean verify), the worker handles at least 10 items in under 5 minutes, p95 of
 * embed + search under 1 s, and the final metrics on the fixed query set no worse than the
 * text profile's.
 */
export function cutoverGates(e: GateEvidence, budgets: GateBudgets = {}): FontGate[] {
  const p95BudgetMs = budgets.p95Ms ?? P95_BUDGET_MS;
  const jitMaxSeconds = budgets.jitSeconds ?? JIT_MAX_SECONDS;
  const ndcgDelta = e.offline.candidate.ndcgAt10 - e.offline.control.ndcgAt10;
  return [
    { name: 'coverage', value: e.coverage, condition: '= 100% (counted)', ok: e.coverage === 1 },
    { name: 'dead-letters', value: e.deadLetters, condition: '= 0', ok: e.deadLetters === 0 },
    { name: 'verify', value: e.verifyFailedChecks, condition: '0 failed checks', ok: e.verifyFailedChecks === 0 },
    {
      name: 'jit-worker',
      value: e.jit.items,
      condition: `≥ ${JIT_MIN_ITEMS} items in < ${jitMaxSeconds} s (longest wait ${e.jit.seconds.toFixed(2)} s)`,
      ok: e.jit.items >= JIT_MIN_ITEMS && e.jit.seconds < jitMaxSeconds,
    },
    {
      name: 'latency-p95',
      value: e.candidateP95Ms,
      condition: `embed + search < ${p95BudgetMs} ms`,
      ok: e.candidateP95Ms < p95BudgetMs,
    },
    {
      name: 'offline-ndcg@10',
      value: ndcgDelta,
      condition: `candidate − control ≥ −${MAX_NDCG_DECREASE}`,
      ok: ndcgDelta >= -MAX_NDCG_DECREASE,
    },
  ];
}
