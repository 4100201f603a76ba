/** Benchmark knobs come from the environment, so a slow CI or a quick local check can shrink a run. */

export function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A comma-separated list whose every item must be one of `allowed`. */
export function listFromEnv<T extends string>(name: string, fallback: T[], allowed: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const isAllowed = (value: string): value is T => (allowed as readonly string[]).includes(value);
  return raw.split(',').map((item) => {
    const value = item.trim();
    if (!isAllowed(value)) {
      throw new Error(`${name}: unknown value ${JSON.stringify(value)} (allowed: ${allowed.join(', ')})`);
    }
    return value;
  });
}
