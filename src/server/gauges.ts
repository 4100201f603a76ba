/**
 * Gauges a Prometheus scraper needs without the CLI, read from the facade at scrape time:
 * coverage, queue, failures, live workers and rows/s per profile, the migration's phase and
 * percent, and the candidate's circuit breaker. The router's own counters and histograms, and
 * `reembed_embedding_profile_info`, are in the facade's registry and served beside these.
 */
import { Gauge, Registry } from 'prom-client';
import { PHASES, type Reembed } from '../reembed.js';
import type { BreakerTracker } from './breakers.js';

const BREAKER_STATES = ['closed', 'open', 'halfOpen'] as const;

export class ServerGauges {
  readonly registry = new Registry();
  private readonly g;

  constructor(
    private readonly rb: Reembed,
    private readonly breakers: BreakerTracker,
  ) {
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames: [...labelNames], registers: [this.registry] });
    this.g = {
      up: gauge('reembed_status_up', '1 when the last scrape could read the status from the database', []),
      coverage: gauge('reembed_coverage_ratio', 'Current store rows / source rows, counted', ['profile']),
      sourceRows: gauge('reembed_source_rows', 'Source rows the profile must cover', ['profile']),
      missing: gauge('reembed_store_missing_rows', 'Source rows without a vector in the store', ['profile']),
      stale: gauge('reembed_store_stale_rows', 'Store rows whose content hash is out of date', ['profile']),
      queue: gauge('reembed_queue_depth', 'Changed rows waiting to be embedded', ['profile']),
      failures: gauge('reembed_failures', 'Rows in the dead-letter table', ['profile']),
      jitPending: gauge(
        'reembed_jit_pending',
        'Just-in-time requests (documents a search asked for) waiting to be embedded',
        ['profile'],
      ),
      jitRate: gauge(
        'reembed_jit_items_per_minute',
        'Just-in-time requests embedded per minute over the last 5 minutes',
        ['profile'],
      ),
      jitWait: gauge(
        'reembed_jit_time_to_embed_p95_seconds',
        'p95 time from a just-in-time request to its embedding, last 5 minutes',
        ['profile'],
      ),
      workers: gauge('reembed_live_workers', 'Workers with a recent heartbeat', ['profile']),
      rate: gauge('reembed_backfill_rows_per_second', 'Rows per second embedded by the live workers', ['profile']),
      paused: gauge('reembed_backfill_paused', '1 when the backfill of the profile is paused', ['profile']),
      phase: gauge('reembed_migration_phase', '1 for the phase the newest migration is in, 0 for the others', [
        'migration',
        'control',
        'candidate',
        'phase',
      ]),
      percent: gauge('reembed_migration_percent', "The migration's rollout percent", ['migration']),
      serving: gauge('reembed_migration_serving_percent', 'Share of searches the candidate serves now', ['migration']),
      version: gauge('reembed_migration_version', "The migration's version (it grows with every change)", [
        'migration',
      ]),
      breaker: gauge('reembed_circuit_breaker_state', "1 for the state the profile's circuit breaker is in", [
        'profile',
        'state',
      ]),
    };
  }

  private rendering: Promise<string> | null = null;

  /**
   * The Prometheus text of the facade's registry and these gauges. Scrapes that arrive while one
   * is being read share its answer, so two never interleave their resets and sets.
   */
  render(onStatusError: (error: unknown) => void): Promise<string> {
    this.rendering ??= (async () => {
      try {
        // The router's counters are served even when the database cannot be read (reembed_status_up 0).
        await this.update().catch(onStatusError);
        return `${await this.rb.registry.metrics()}\n${await this.registry.metrics()}`;
      } finally {
        this.rendering = null;
      }
    })();
    return this.rendering;
  }

  /** Reads the facade and sets every gauge; a failure to read sets reembed_status_up to 0 and clears the rest. */
  async update(): Promise<void> {
    const g = this.g;
    for (const metric of Object.values(g)) metric.reset();
    try {
      const status = await this.rb.status();
      for (const p of status.profiles) {
        const profile = p.profile;
        g.coverage.set({ profile }, p.coverage.ratio);
        g.sourceRows.set({ profile }, p.coverage.sourceRows);
        g.missing.set({ profile }, p.coverage.missing);
        g.stale.set({ profile }, p.coverage.stale);
        g.queue.set({ profile }, p.queued);
        g.failures.set({ profile }, p.failures);
        g.jitPending.set({ profile }, p.jit.pending);
        g.jitRate.set({ profile }, p.jit.itemsPerMinute);
        if (p.jit.timeToEmbedMs) g.jitWait.set({ profile }, p.jit.timeToEmbedMs.p95 / 1000);
        g.workers.set({ profile }, p.workersAlive);
        g.rate.set({ profile }, p.rowsPerSecond);
        g.paused.set({ profile }, p.paused ? 1 : 0);
      }
      const report = await this.rb.migration.statusReport();
      const candidates: string[] = [];
      if (report.migration) {
        const m = report.migration;
        for (const phase of PHASES)
          g.phase.set(
            { migration: m.id, control: m.control, candidate: m.candidate, phase },
            m.phase === phase ? 1 : 0,
          );
        g.percent.set({ migration: m.id }, m.percent);
        g.serving.set({ migration: m.id }, report.servingPercent);
        g.version.set({ migration: m.id }, m.version);
        candidates.push(m.candidate);
      }
      for (const b of await this.breakers.report(candidates))
        for (const state of BREAKER_STATES) g.breaker.set({ profile: b.profile, state }, b.state === state ? 1 : 0);
      g.up.set(1);
    } catch (error) {
      for (const metric of Object.values(g)) metric.reset();
      g.up.set(0);
      throw error;
    }
  }
}
