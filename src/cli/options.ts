import { InvalidArgumentError } from 'commander';

/** A commander argument parser for whole numbers > 0 (a bad value is a usage error, exit 2). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`not a positive whole number: ${value}`);
  return n;
}

/** A commander argument parser for whole numbers ≥ 0 (a version, a count). */
export function wholeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`not a whole number: ${value}`);
  return n;
}
