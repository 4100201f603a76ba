/**
 * Retry delay with "full jitter": uniform in [0, min(cap, base · 2^(attempt − 1))), attempts
 * counted from 1. Spreading retries over the whole window keeps many clients that failed
 * together from retrying together.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** (attempt - 1)));
}
