/**
 * Slows a process's workers down when the provider answers 429 and recovers with time: the
 * rate is multiplied by a factor that halves on a 429 (at most once per second, since one
 * burst brings several) and grows back by `recoveryPerSecond` of the full rate for every
 * second without one (AIMD, as in TCP). Time-based recovery does not depend on how large the
 * pages are. It scales a known rate (the profile's rpm or the live throttle); without one,
 * the embedder's Retry-After pause and backoff are what slow it down.
 */
export class AdaptiveRate {
  private factor = 1;
  private lastDecrease = -Infinity;
  private lastUpdate: number;

  constructor(
    private readonly min = 0.05,
    private readonly now: () => number = Date.now,
    private readonly recoveryPerSecond = 0.1,
  ) {
    this.lastUpdate = now();
  }

  /** Returns true when the factor changed. */
  slowDown(): boolean {
    const t = this.now();
    this.lastUpdate = t;
    if (t - this.lastDecrease < 1000) return false;
    this.lastDecrease = t;
    const before = this.factor;
    this.factor = Math.max(this.min, this.factor / 2);
    return this.factor !== before;
  }

  /** Called after successful work: recovers in proportion to the time since the last change. */
  speedUp(): boolean {
    const t = this.now();
    const elapsed = (t - this.lastUpdate) / 1000;
    this.lastUpdate = t;
    if (this.factor >= 1) return false;
    this.factor = Math.min(1, this.factor + this.recoveryPerSecond * elapsed);
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
