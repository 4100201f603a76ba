import { ConfigError } from '../errors.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "7d", "12h", "30m", "45s", "2w" (or plain seconds) to milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/.exec(text.trim());
  if (!match) throw new ConfigError(`not a duration: ${JSON.stringify(text)} (use e.g. 7d, 12h, 30m, 45s)`);
  return Number(match[1]) * UNITS[match[2] || 's']!;
}
