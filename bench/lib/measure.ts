import { performance } from 'node:perf_hooks';

/** Collects garbage before a measurement when node runs with --expose-gc (the runner passes it). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Wall-clock seconds of one call; the garbage of earlier work is collected first, off the clock. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  collectGarbage();
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
