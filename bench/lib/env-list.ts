/** A comma-separated list of positive integers from the environment, e.g. REEMBED_BENCH_DIMS=384,1536. */
export function intListFromEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((item) => {
    const value = Number(item.trim());
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`${name} must be a comma-separated list of positive integers, got ${JSON.stringify(raw)}`);
    }
    return value;
  });
}
