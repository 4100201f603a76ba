/**
 * Does the candidate serve the share of searches its percentage says? With sticky buckets and
 * many subjects, the candidate's share of a step's searches is close to `percent / 100`; far off
 * (over 5 standard errors) means something routes differently than intended: searches without a
 * subject (they always go to the control), a few subjects issuing most searches, or routers
 * reading another migration state.
 */
export interface CanaryShare {
  percent: number;
  /** Searches of the step: the candidate's and the control's, a fallback counted once. */
  searches: number;
  candidateSearches: number;
  /** candidateSearches / searches; null without searches. */
  observed: number | null;
  /** percent / 100; null when segments are on (their share is not a percentage). */
  expected: number | null;
  /** |observed - expected| in standard errors of a binomial share; null when not computable. */
  deviation: number | null;
  /** The warning, when the deviation is over 5. */
  warning: string | null;
}

export const SHARE_WARNING_SIGMAS = 5;

export function canaryShare(input: {
  percent: number;
  segmentsOn: boolean;
  candidateRequests: number;
  candidateFallbacks: number;
  controlRequests: number;
}): CanaryShare {
  const searches = input.candidateRequests + input.controlRequests - input.candidateFallbacks;
  const observed = searches > 0 ? input.candidateRequests / searches : null;
  const expected = input.segmentsOn ? null : input.percent / 100;
  let deviation: number | null = null;
  if (observed !== null && expected !== null && expected > 0 && expected < 1) {
    const se = Math.sqrt((expected * (1 - expected)) / searches);
    deviation = Math.abs(observed - expected) / se;
  }
  const warning =
    deviation !== null && deviation > SHARE_WARNING_SIGMAS
      ? `the candidate served ${(observed! * 100).toFixed(1)}% of ${searches} searches at ${input.percent}% ` +
        `(${deviation.toFixed(1)} standard errors off): searches without a subject always go to the control, ` +
        'and a few subjects issuing most searches skew the share'
      : null;
  return {
    percent: input.percent,
    searches,
    candidateSearches: input.candidateRequests,
    observed,
    expected,
    deviation,
    warning,
  };
}
