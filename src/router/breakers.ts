/**
 * The candidate's circuit breakers (opossum), one per profile. Only the candidate's own failures
 * count: the caller's mistakes (an input its embedder refuses) and this process's full queue are
 * filtered out. Beside opossum's percentage over a rolling window, failures in a row open it,
 * so a dead candidate under sparse canary traffic stops costing its users the timeout.
 */
import CircuitBreaker from 'opossum';
import type { Profile } from '../config/profile.js';
import { CandidateTimeoutError, OverloadedError } from './load.js';
import { isCallerError } from './request.js';
import type { FallbackReason, RouterOptions, SearchRequest, Timed } from './types.js';

type Run = (profile: Profile, query: string, request: SearchRequest, budgetMs: number) => Promise<Timed>;
type Breaker = CircuitBreaker<[Profile, string, SearchRequest], Timed>;

export class CandidateBreakers {
  private readonly breakers = new Map<string, Breaker>();

  constructor(
    private readonly options: NonNullable<RouterOptions['breaker']>,
    private readonly run: Run,
    private readonly onOpen: (profile: string) => void,
  ) {}

  /** The profile's breaker; its timer is the run's budget (the candidate's own work), not opossum's. */
  for(profile: Profile): Breaker {
    let b = this.breakers.get(profile.name);
    if (b) return b;
    const o = this.options;
    const timeoutMs = o.timeoutMs ?? 2000;
    b = failFastBreaker((p: Profile, q: string, r: SearchRequest) => this.run(p, q, r, timeoutMs), {
      ...o,
      errorFilter: (error: unknown) => isCallerError(error) || error instanceof OverloadedError,
      onOpen: () => this.onOpen(profile.name),
    });
    this.breakers.set(profile.name, b);
    return b;
  }

  /** Closed (healthy), open (all traffic to the control) or halfOpen. */
  state(profile: string): 'closed' | 'open' | 'halfOpen' {
    return breakerState(this.breakers.get(profile));
  }

  shutdown(): void {
    for (const b of this.breakers.values()) b.shutdown();
  }
}

/** Why the control answered: opossum rejects with code EOPENBREAKER while open. */
export function fallbackReasonOf(error: unknown): FallbackReason {
  if (isCallerError(error)) return { kind: 'rejected_input', code: (error as { code?: string }).code };
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ETIMEDOUT' || error instanceof CandidateTimeoutError) return { kind: 'timeout' };
  if (code === 'EOPENBREAKER') return { kind: 'breaker_open' };
  return typeof code === 'string' ? { kind: 'error', code } : { kind: 'error' };
}

export interface FailFastOptions {
  errorThresholdPercentage?: number;
  resetTimeoutMs?: number;
  volumeThreshold?: number;
  rollingWindowMs?: number;
  /** Failures in a row that open the breaker whatever the percentage (default 5). */
  consecutiveFailures?: number;
  /** Errors that are not the guarded work's failures (they neither count nor open it). */
  errorFilter?: (error: unknown) => boolean;
  onOpen?: () => void;
}

/**
 * An opossum breaker without its own timer (the guarded work bounds its time), that opens on
 * opossum's failure percentage over a rolling window or on `consecutiveFailures` in a row: under
 * sparse traffic the percentage needs a volume that a dead dependency would cost its users.
 */
export function failFastBreaker<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  o: FailFastOptions,
): CircuitBreaker<A, R> {
  const breaker = new CircuitBreaker<A, R>(fn, {
    timeout: false,
    errorThresholdPercentage: o.errorThresholdPercentage ?? 50,
    resetTimeout: o.resetTimeoutMs ?? 5000,
    volumeThreshold: o.volumeThreshold ?? 5,
    rollingCountTimeout: o.rollingWindowMs ?? 10_000,
    ...(o.errorFilter ? { errorFilter: o.errorFilter } : {}),
  });
  const consecutive = o.consecutiveFailures ?? 5;
  let failuresInARow = 0;
  breaker.on('success', () => (failuresInARow = 0));
  breaker.on('failure', () => {
    if (++failuresInARow >= consecutive && breaker.closed) breaker.open();
  });
  breaker.on('open', () => {
    failuresInARow = 0;
    o.onOpen?.();
  });
  return breaker;
}

/** A breaker's state; no breaker yet is closed. */
export function breakerState(b: CircuitBreaker | undefined): 'closed' | 'open' | 'halfOpen' {
  return !b || b.closed ? 'closed' : b.opened ? 'open' : 'halfOpen';
}
