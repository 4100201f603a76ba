/**
 * Slows a worker down when the provider answers 429 and recovers gradually: the rate is
 * multiplied by a factor that halves on a 429 (at most once per second, since one burst brings
 * several) and grows by 5% of the full rate after each successful batch (AIMD, as in TCP).
 * It scales a known rate (the profile's rpm or the live throttle); without one, the embedder's
 * Retry-After pause and backoff are what slow it down.
 */
export class AdaptiveRate {
  private factor = 1;
  private lastDecrease = -Infinity;

  constructor(
    private readonly min = 0.05,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns true when the factor changed. */
  slowDown(): boolean {
    const t = this.now();
    if (t - this.lastDecrease < 1000) return false;
    this.lastDecrease = t;
    const before = this.factor;
    this.factor = Math.max(this.min, this.factor / 2);
    return this.factor !== before;
  }

  speedUp(): boolean {
    if (this.factor >= 1) return false;
    this.factor = Math.min(1, this.factor + 0.05);
    return true;
  }

  get value(): number {
    return this.factor;
  }

  /** The rate to use now for a base rate (undefined: unlimited). */
  apply(base: number | undefined): number | undefined {
    return base === undefined ? undefined : Math.max(1, base * this.factor);
  }
}
