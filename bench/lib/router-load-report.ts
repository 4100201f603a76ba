/** The router-load benchmark's tables (bench/router-load.ts measures, this prints). */
import type { Level, Soak } from '../router-load.js';
import { sum } from './load.js';
import { formatNumber, printTable } from './report.js';

export interface ReportSettings {
  rows: number;
  secondsPerLevel: number;
  canaryPercent: number;
  shadowSample: number;
  deadlineMs: number;
  rssEverySeconds: number;
  rssGoalMiB: number;
}

export const ms = (v: number | null) => (v === null ? '—' : v.toFixed(2));
export const kinds = (counts: Record<string, number>) =>
  Object.keys(counts).length === 0
    ? '0'
    : Object.entries(counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');

/** The goal for a level: no candidate error, no breaker trip, p99 within the search deadline. */
export const levelGoalMet = (l: Level, deadlineMs: number) =>
  l.servingMetrics.cand.errors === 0 &&
  l.on.router.breakerOpens + l.off.router.breakerOpens === 0 &&
  (l.on.p99 ?? 0) <= deadlineMs;

export function printLevels(levels: Level[], s: ReportSettings): void {
  const base = levels.find((l) => l.callers === 1)?.on.qps ?? levels[0]!.on.qps;
  printTable(
    `Router at canary ${s.canaryPercent}%, shadow ${s.shadowSample}, ${formatNumber(s.rows)} rows × 384 dims, k = 10, ` +
      `${s.secondsPerLevel} s per level (ms; candidate errors and breaker trips: both routers)`,
    [
      'callers',
      'q/s',
      'q/s ÷ 1 caller',
      'p50',
      'p99',
      'max',
      'queued p99',
      'errors',
      'fallbacks',
      'overloaded',
      'deadline',
      'breaker trips',
      'cand errors / requests',
      'goal',
    ],
    levels.map((l) => [
      String(l.callers),
      formatNumber(l.on.qps),
      (l.on.qps / base).toFixed(2),
      ms(l.on.p50),
      ms(l.on.p99),
      ms(l.on.maxCallMs),
      ms(l.on.queuedP99),
      kinds(l.on.errors),
      String(sum(l.on.fallbacks)),
      String(l.on.router.overloaded),
      String(l.on.router.deadlineExceeded),
      String(l.on.router.breakerOpens + l.off.router.breakerOpens),
      `${l.servingMetrics.cand.errors} / ${formatNumber(l.servingMetrics.cand.requests)}`,
      levelGoalMet(l, s.deadlineMs) ? 'met' : 'NOT MET',
    ]),
  );
  console.log(
    `\nGoal at every level: 0 candidate errors (serving metrics) and 0 breaker trips; p99 ≤ the search deadline (${s.deadlineMs} ms).`,
  );
  printTable(
    `Same run, alternated in blocks: shadow ${s.shadowSample} vs shadow reads off (ms)`,
    [
      'callers',
      'on q/s',
      'off q/s',
      'q/s on/off',
      'on p99',
      'off p99',
      'p99 on/off',
      'shadow runs',
      'dropped',
      'shadow errors',
      'off: errors',
      'off: fallbacks',
    ],
    levels.map((l) => [
      String(l.callers),
      formatNumber(l.on.qps),
      formatNumber(l.off.qps),
      (l.on.qps / l.off.qps).toFixed(2),
      ms(l.on.p99),
      ms(l.off.p99),
      l.on.p99 !== null && l.off.p99 ? (l.on.p99 / l.off.p99).toFixed(2) : '—',
      String(l.on.router.shadowRuns),
      String(l.on.router.shadowDropped),
      String(l.on.router.shadowErrors),
      kinds(l.off.errors),
      String(sum(l.off.fallbacks)),
    ]),
  );
}

export function printSoak(soak: Soak, settings: ReportSettings): void {
  const s = soak;
  printTable(
    `Soak: ${s.callers} callers, ${s.warmupSeconds} s warm-up, then ${s.seconds} s sampling RSS every ${settings.rssEverySeconds} s (MiB)`,
    [
      'samples',
      'first',
      'last',
      'min',
      'max',
      'growth',
      'max − first',
      'max − min',
      'slope /min',
      'heap first',
      'heap last',
      'goal',
    ],
    [
      [
        String(s.samples.length),
        s.rss.firstMiB.toFixed(1),
        s.rss.lastMiB.toFixed(1),
        s.rss.minMiB.toFixed(1),
        s.rss.maxMiB.toFixed(1),
        s.rss.growthMiB.toFixed(1),
        s.rss.maxAboveFirstMiB.toFixed(1),
        s.rss.rangeMiB.toFixed(1),
        s.rss.slopeMiBPerMinute.toFixed(2),
        s.rss.heapUsedFirstMiB.toFixed(1),
        s.rss.heapUsedLastMiB.toFixed(1),
        Math.abs(s.rss.growthMiB) <= settings.rssGoalMiB && s.rss.rangeMiB <= settings.rssGoalMiB ? 'met' : 'NOT MET',
      ],
    ],
  );
  console.log(
    `\nSoak traffic: ${formatNumber(s.load.qps)} q/s, p50 ${ms(s.load.p50)} ms, p99 ${ms(s.load.p99)} ms, ` +
      `max ${ms(s.load.maxCallMs)} ms; errors ${kinds(s.load.errors)}; fallbacks ${sum(s.load.fallbacks)}; ` +
      `breaker trips ${s.router.breakerOpens}; candidate errors ${s.servingMetrics.cand.errors} of ` +
      `${formatNumber(s.servingMetrics.cand.requests)} requests (serving metrics).`,
  );
}
