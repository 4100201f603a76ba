import { scaled } from './slowdown.js';

/**
 * Polls every 5 ms until `check()` holds or `ms` pass (scaled by REEMBED_TEST_SLOWDOWN), and
 * says which: tests wait for a condition with a deadline instead of sleeping a guessed time,
 * and assert what they need afterwards.
 */
export async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + scaled(ms);
  while (!check()) {
    if (performance.now() > until) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
