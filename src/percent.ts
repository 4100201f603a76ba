/**
 * A ratio as a percentage, truncated rather than rounded: a coverage of 5243/5244 is 99.98%,
 * never 100.00% while a row is missing. Shared by the readiness check, the lifecycle's
 * refusals and the CLI.
 */
export function truncatedPercent(ratio: number, digits = 2): string {
  const scale = 10 ** digits;
  return `${(Math.floor(ratio * 100 * scale) / scale).toFixed(digits)}%`;
}
