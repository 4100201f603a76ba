/**
 * `reembed eval trend`: one metric of one profile over the history's runs, each beside the
 * median of the runs of the 7 days up to it (the runbooks compare today's evaluation with that
 * median: "R@5 drop > 3 pp vs 7-day median"), and an SVG plot of both.
 */
import type { HistoryEntry } from './history.js';
import type { RetrievalMetrics } from './metrics.js';

export const MEDIAN_WINDOW_MS = 7 * 86_400_000;

export interface TrendPoint {
  time: string;
  value: number;
  /** Median of this profile's values in the 7 days up to and including this run. */
  median7d: number;
  /** value - median7d. */
  deltaFromMedian: number;
  fingerprint: string;
}

export interface Trend {
  profile: string;
  metric: string;
  search: 'exact' | 'ann';
  points: TrendPoint[];
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function metricTrend(
  entries: HistoryEntry[],
  options: {
    profile: string;
    metric: keyof RetrievalMetrics;
    metricName: string;
    search?: 'exact' | 'ann';
    /** Only runs newer than this (ms before `now`). */
    sinceMs?: number;
    now?: number;
  },
): Trend {
  const search = options.search ?? 'exact';
  const now = options.now ?? Date.now();
  const all = entries
    .flatMap((e) => {
      const p = e.profiles.find((x) => x.profile === options.profile);
      const summary = p ? (search === 'exact' ? p.exact : p.ann) : null;
      return p && summary
        ? [{ time: Date.parse(e.time), value: summary[options.metric], fingerprint: p.fingerprint }]
        : [];
    })
    .sort((a, b) => a.time - b.time);
  const points: TrendPoint[] = [];
  for (const point of all) {
    if (options.sinceMs !== undefined && point.time < now - options.sinceMs) continue;
    // The window reaches back before `sinceMs`: the first shown points have their true median.
    const window = all
      .filter((x) => x.time <= point.time && x.time > point.time - MEDIAN_WINDOW_MS)
      .map((x) => x.value);
    const m = median(window);
    points.push({
      time: new Date(point.time).toISOString(),
      value: point.value,
      median7d: m,
      deltaFromMedian: point.value - m,
      fingerprint: point.fingerprint,
    });
  }
  return { profile: options.profile, metric: options.metricName, search, points };
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A self-contained SVG line chart of the values (points) and the 7-day median (dashed). */
export function trendSvg(trend: Trend, width = 720, height = 320): string {
  const pad = { left: 56, right: 16, top: 32, bottom: 40 };
  const pts = trend.points;
  const times = pts.map((p) => Date.parse(p.time));
  const values = pts.flatMap((p) => [p.value, p.median7d]);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  let [v0, v1] = [Math.min(...values), Math.max(...values)];
  if (v1 - v0 < 1e-6) [v0, v1] = [v0 - 0.01, v1 + 0.01];
  const x = (t: number) => pad.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v: number) => pad.top + (1 - (v - v0) / (v1 - v0)) * (height - pad.top - pad.bottom);
  const line = (get: (p: TrendPoint) => number) =>
    pts.map((p, i) => `${i ? 'L' : 'M'}${x(times[i]!).toFixed(1)},${y(get(p)).toFixed(1)}`).join(' ');
  const ticks = [v0, (v0 + v1) / 2, v1];
  const title = `${trend.metric} of ${trend.profile} (${trend.search}), ${pts.length} runs`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${pad.left}" y="20" font-size="14">${escapeXml(title)}</text>`,
    ...ticks.map(
      (v) =>
        `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>` +
        `<text x="${pad.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(3)}</text>`,
    ),
    `<text x="${pad.left}" y="${height - 12}">${escapeXml(pts[0]?.time.slice(0, 10) ?? '')}</text>`,
    `<text x="${width - pad.right}" y="${height - 12}" text-anchor="end">${escapeXml(pts.at(-1)?.time.slice(0, 10) ?? '')}</text>`,
    `<path d="${line((p) => p.median7d)}" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="5,4"/>`,
    `<path d="${line((p) => p.value)}" fill="none" stroke="#1f6feb" stroke-width="2"/>`,
    ...pts.map(
      (p, i) =>
        `<circle cx="${x(times[i]!).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3" fill="#1f6feb"><title>${escapeXml(`${p.time} ${p.value.toFixed(4)} (median ${p.median7d.toFixed(4)})`)}</title></circle>`,
    ),
    `<text x="${width - pad.right}" y="20" text-anchor="end" fill="#888">dashed: 7-day median</text>`,
    '</svg>',
    '',
  ].join('\n');
}
