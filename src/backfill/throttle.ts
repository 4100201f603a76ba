import type { Profile } from '../config/profile.js';
import { RateLimiter, type RateLimiterOptions } from '../embedders/rate-limiter.js';
import { AdaptiveRate } from './adaptive-rate.js';

/**
 * One process's rate for one profile, shared by all its workers: the profile's `rate_limit`
 * holds for the process as a whole (not per worker), a live throttle from the database is
 * split among the live processes, and 429s slow the whole process down.
 */
export class ProfileThrottle {
  readonly limiter: RateLimiter;
  readonly adaptive: AdaptiveRate;
  private controlRpm: number | null = null;
  private processes = 1;

  /** `clock` replaces the wall clock and real waits (tests); real ones by default. */
  constructor(
    private readonly profile: Profile,
    clock: ThrottleClock = {},
  ) {
    this.limiter = new RateLimiter(profile.rate_limit, clock);
    this.adaptive = new AdaptiveRate(undefined, clock.now);
  }

  setControl(rpm: number | null): void {
    if (rpm === this.controlRpm) return;
    this.controlRpm = rpm;
    this.apply();
  }

  setLiveProcesses(count: number): void {
    const n = Math.max(1, count);
    if (n === this.processes) return;
    this.processes = n;
    this.apply();
  }

  /** A 429 from the provider. */
  rateLimited(): void {
    if (this.adaptive.slowDown()) this.apply();
  }

  /** Work went through. */
  succeeded(): void {
    if (this.adaptive.speedUp()) this.apply();
  }

  /** The requests per minute in force now (undefined: unlimited). */
  get rpm(): number | undefined {
    const share = this.controlRpm !== null ? this.controlRpm / this.processes : undefined;
    const configured = [this.profile.rate_limit.rpm, share].filter((x): x is number => x !== undefined);
    return this.adaptive.apply(configured.length ? Math.min(...configured) : undefined);
  }

  private apply(): void {
    this.limiter.setLimits({ rpm: this.rpm, tpm: this.profile.rate_limit.tpm });
  }
}

/** The time a throttle reads and waits in. */
export type ThrottleClock = Pick<RateLimiterOptions, 'now' | 'sleep'>;

/** The throttles of one process, one per profile. */
export function createThrottles(profiles: Profile[], clock?: ThrottleClock): Map<string, ProfileThrottle> {
  return new Map(profiles.map((p) => [p.name, new ProfileThrottle(p, clock)]));
}
