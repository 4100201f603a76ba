/**
 * How much slower than an idle developer machine this run may be: `REEMBED_TEST_SLOWDOWN`
 * (default 1; a shared or loaded CI runner sets 2, 3, ...). Every per-test deadline scales by it:
 * vitest's testTimeout and hookTimeout (vitest.config.ts), a CLI child's kill timer, a wait for a
 * condition, a timer a test must not hit by accident. Deadlines only: no test asserts how fast
 * something ran (speed is measured by `npm run bench`).
 */
export function testSlowdown(env: Record<string, string | undefined> = process.env): number {
  const raw = env.REEMBED_TEST_SLOWDOWN;
  if (raw === undefined || raw.trim() === '') return 1;
  const factor = Number(raw);
  if (!Number.isFinite(factor) || factor < 1)
    throw new Error(`REEMBED_TEST_SLOWDOWN must be a number of at least 1, got ${JSON.stringify(raw)}`);
  return factor;
}

/** `ms` scaled by REEMBED_TEST_SLOWDOWN: a deadline that holds on a slower machine. */
export function scaled(ms: number): number {
  return Math.ceil(ms * testSlowdown());
}
