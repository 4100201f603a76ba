import { ConfigError } from '../errors.js';

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "7d", "12h", "30m", "45s", "250ms", "2w" (or plain seconds) to milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|[smhdw]?)$/.exec(text.trim());
  if (!match) throw new ConfigError(`not a duration: ${JSON.stringify(text)} (use e.g. 7d, 12h, 30m, 45s, 500ms)`);
  return Number(match[1]) * UNITS[match[2] || 's']!;
}

/** A duration for people: 90000 → "1m30s", 500 → "500ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}
