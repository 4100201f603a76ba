/**
 * Polls every 5 ms until `check()` holds or `ms` pass, and says which: tests wait for a condition
 * with a deadline instead of sleeping a guessed time, and assert what they need afterwards.
 */
export async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (!check()) {
    if (performance.now() > until) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
