import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../facade/shell.js';
import type { MetricsReport } from '../reembed.js';
import { CliContext } from './context.js';
import { formatCost, significant, table } from './format.js';

function percent(x: number | null): string {
  return x === null ? '-' : `${(x * 100).toFixed(2)}%`;
}

export function registerMetrics(program: Command): void {
  const metrics = program
    .command('metrics')
    .description(
      'the serving metrics every router writes to the database (per profile and 10 s window): show them, prune old ones',
    );

  metrics
    .command('show')
    .summary('searches, errors, latency and shadow agreement per profile, every instance')
    .description(
      'Per profile, summed over every instance: searches, errors, fallbacks, circuit-breaker trips, latency ' +
        'p50/p95/p99, shadow agreement and shadow samples dropped under load, over the windows written in the last --since. These are the figures ' +
        'the controller’s online gates read.',
    )
    .option('--since <duration>', 'how far back, e.g. 15m, 1h, 7d', '1h')
    .option('-p, --profile <name...>', 'only these profiles (default: every profile with windows in the range)')
    .action(async (opts: { since: string; profile?: string[] }, command: Command) => {
      const ctx = new CliContext(command);
      const sinceMs = parseDuration(opts.since);
      await ctx.withReembed(async (rb) => {
        const report = await rb.metrics.show({ since: sinceMs, profiles: opts.profile });
        const { profiles } = report;
        ctx.result(report, () =>
          profiles.length === 0
            ? `no serving windows written in the last ${formatDuration(sinceMs)} (routers write them while they serve searches)`
            : [
                `serving metrics of the last ${formatDuration(sinceMs)} (windows written since ${report.since}), every instance:`,
                table(
                  [
                    'profile',
                    'instances',
                    'windows',
                    'searches',
                    'req/s',
                    'errors',
                    'error rate',
                    'fallbacks',
                    'breaker trips',
                    'p50 ms',
                    'p95 ms',
                    'p99 ms',
                    'shadowed',
                    'shadow dropped',
                    'overlap@10',
                    'RBO',
                    'cache hits',
                    'top-1 score',
                    'top-5 cosine',
                    'query tokens',
                  ],
                  profiles.map((p) => [
                    p.profile,
                    p.instances,
                    p.windows,
                    p.requests,
                    significant(p.requestsPerSecond, 3),
                    p.errors,
                    percent(p.errorRate),
                    countWithReasons(p.fallbacks, p.fallbackReasons),
                    p.breakerOpens,
                    significant(p.latencyMs.p50),
                    significant(p.latencyMs.p95),
                    significant(p.latencyMs.p99),
                    p.shadow.compared,
                    countWithReasons(p.shadow.dropped, p.shadow.droppedReasons),
                    significant(p.shadow.overlap, 3),
                    significant(p.shadow.rbo, 3),
                    cacheHits(p.cache),
                    significant(p.quality.top1Score, 3),
                    significant(p.quality.top5PairwiseCosine, 3),
                    formatCost(p.queryCost),
                  ]),
                ),
                ...rerankLines(profiles),
                ...(report.canary ? [canaryLine(report.canary)] : []),
                ...(report.costComparison ? [costLine(report.costComparison)] : []),
              ].join('\n'),
        );
      });
    });

  metrics
    .command('prune')
    .summary('delete old serving windows (routers keep 30 days by themselves)')
    .description(
      'Delete serving windows written more than --older-than ago, except those of a migration a controller may ' +
        'still measure (one in shadow, canary or cutover). Routers do this by themselves hourly with a 30-day retention; ' +
        'this is for a shorter one, or for routers that run with retention off. The controller’s measurements ' +
        'and decisions are kept in its own tables.',
    )
    .option('--older-than <duration>', 'age of the windows to delete, e.g. 7d, 12h', '30d')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .action(async (opts: { olderThan: string; dryRun?: boolean }, command: Command) => {
      const ctx = new CliContext(command);
      const ageMs = parseDuration(opts.olderThan);
      await ctx.withReembed(async (rb) => {
        const result = await rb.metrics.prune({ olderThan: ageMs, dryRun: opts.dryRun });
        ctx.result(result, () =>
          result.skipped
            ? 'another process is pruning the serving windows right now; nothing done'
            : `${opts.dryRun ? 'would delete' : 'deleted'} ${result.deleted} serving windows written before ` +
              `${result.olderThan}; kept ${result.keptForActiveMigrations} older ones of migrations still measured`,
        );
      });
    });
}

/** The rerank stages' arms, acceptance, fallbacks and latency, for the profiles that have one. */
function rerankLines(profiles: MetricsReport['profiles']): string[] {
  const staged = profiles.filter((p) => p.rerank.on + p.rerank.off + p.rerank.fallbacks > 0);
  if (staged.length === 0) return [];
  return [
    'rerank stages:',
    table(
      ['profile', 'reranked', 'not reranked', 'fallbacks', 'acceptance', 'rerank p50 ms', 'rerank p95 ms'],
      staged.map((p) => [
        p.profile,
        p.rerank.on,
        p.rerank.off,
        p.rerank.fallbacks,
        percent(p.rerank.acceptance),
        significant(p.rerank.latencyMs.p50, 3),
        significant(p.rerank.latencyMs.p95, 3),
      ]),
    ),
  ];
}

/** "8 (timeout 5, breaker_open 3)": a count (fallbacks, shadow drops) and its reasons, most frequent first. */
function countWithReasons(total: number, reasons: Record<string, number>): string {
  const parts = Object.entries(reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`);
  return parts.length === 0 ? String(total) : `${total} (${parts.join(', ')})`;
}

/** The canary step's served share beside its percentage, with the warning when it is far off. */
function canaryLine(c: NonNullable<MetricsReport['canary']>): string {
  const observed =
    c.observed === null ? 'no searches yet' : `${(c.observed * 100).toFixed(1)}% of ${c.searches} searches`;
  const expected = c.expected === null ? 'segments on, so no expected share' : `expected ${c.percent}%`;
  return (
    `canary ${c.migration}: ${c.candidate} served ${observed} in this step (${expected})` +
    (c.warning ? `\nWARNING: ${c.warning}` : '')
  );
}

/** `94.0% (12 shared)`: both kinds of hit over every lookup; `-` without lookups (a profile with `cache: { size: 0 }`). */
function cacheHits(cache: { hitRate: number | null; sharedHits: number }): string {
  if (cache.hitRate === null) return '-';
  return `${percent(cache.hitRate)}${cache.sharedHits ? ` (${cache.sharedHits} shared)` : ''}`;
}

/** The runbook's "reduced embedding API costs confirmed": query cost per 1,000 searches, candidate against control. */
function costLine(c: NonNullable<MetricsReport['costComparison']>): string {
  const usd = (x: number) => `$${x.toPrecision(3)}`;
  return (
    `query cost per 1,000 searches: ${c.candidate} ${usd(c.candidateUsdPerThousandSearches)}, ${c.control} ${usd(c.controlUsdPerThousandSearches)}` +
    (c.ratio === null ? '' : ` (${c.ratio.toFixed(2)}×)`)
  );
}
