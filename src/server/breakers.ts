/**
 * The candidate's circuit breaker as an operator sees it: state (closed, open, halfOpen), how
 * many times it opened in this process, and when it last did. The state comes from the router;
 * the count from the router's Prometheus counter; the time of the last opening is noted by
 * sampling that count (every second and at every read).
 */
import type { Reembed } from '../reembed.js';

export interface BreakerReport {
  profile: string;
  state: 'closed' | 'open' | 'halfOpen';
  opens: number;
  /** ISO time the server first saw this opening (null: never opened in this process). */
  lastOpenAt: string | null;
}

const OPENS = 'reembed_circuit_breaker_opens_total';

export class BreakerTracker {
  private readonly seen = new Map<string, { opens: number; lastOpenAt: string | null }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly rb: Reembed) {}

  start(everyMs = 1000): void {
    this.timer ??= setInterval(() => void this.sample().catch(() => {}), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async opensByProfile(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const metric = this.rb.registry.getSingleMetric(OPENS);
    if (!metric) return out;
    const { values } = await metric.get();
    for (const v of values) out.set(String(v.labels.profile), (out.get(String(v.labels.profile)) ?? 0) + v.value);
    return out;
  }

  private async sample(): Promise<Map<string, number>> {
    const opens = await this.opensByProfile();
    for (const [profile, n] of opens) {
      const before = this.seen.get(profile);
      if (!before || n > before.opens)
        this.seen.set(profile, { opens: n, lastOpenAt: n > 0 ? new Date().toISOString() : null });
    }
    return opens;
  }

  /** The breakers of the profiles a migration involves as candidate (and any that ever opened). */
  async report(candidates: string[]): Promise<BreakerReport[]> {
    await this.sample();
    let router: Reembed['router'] | null = null;
    try {
      router = this.rb.router;
    } catch {
      // Not started yet (no search so far): every breaker is closed.
    }
    const names = new Set([...candidates, ...this.seen.keys()]);
    return [...names].sort().map((profile) => ({
      profile,
      state: router ? router.breakerState(profile) : 'closed',
      opens: this.seen.get(profile)?.opens ?? 0,
      lastOpenAt: this.seen.get(profile)?.lastOpenAt ?? null,
    }));
  }
}
