/**
 * Latency histograms with fixed, exponentially spaced buckets, so histograms from many
 * instances and windows add up element by element and a quantile comes from the sum. Buckets
 * grow by 10% from 0.1 ms to about 10 minutes: interpolating inside a bucket keeps a quantile
 * within a few percent, which a gate on "p95 ≤ control × 1.15" needs.
 */
const FIRST_BOUND_MS = 0.1;
const GROWTH = 1.1;
export const BUCKET_COUNT = 165;

/** Upper bound of bucket i in ms; the last bucket is open-ended. */
export function bucketUpperBound(i: number): number {
  return i >= BUCKET_COUNT - 1 ? Infinity : FIRST_BOUND_MS * GROWTH ** i;
}

function bucketLowerBound(i: number): number {
  return i === 0 ? 0 : FIRST_BOUND_MS * GROWTH ** (i - 1);
}

export function bucketOf(ms: number): number {
  if (!(ms > FIRST_BOUND_MS)) return 0;
  return Math.min(BUCKET_COUNT - 1, Math.ceil(Math.log(ms / FIRST_BOUND_MS) / Math.log(GROWTH) - 1e-9));
}

export function emptyHistogram(): number[] {
  return new Array<number>(BUCKET_COUNT).fill(0);
}

export function addInto(target: number[], source: readonly number[]): void {
  for (let i = 0; i < BUCKET_COUNT; i++) target[i]! += source[i] ?? 0;
}

/** The q-quantile (0 < q ≤ 1) by linear interpolation inside its bucket; null for no samples. */
export function quantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && seen + c >= rank) {
      const lower = bucketLowerBound(i);
      // The open-ended last bucket has no upper bound to interpolate to: report its floor.
      const upper = i === BUCKET_COUNT - 1 ? lower : bucketUpperBound(i);
      return lower + ((rank - seen) / c) * (upper - lower);
    }
    seen += c;
  }
  return bucketLowerBound(counts.length - 1);
}
