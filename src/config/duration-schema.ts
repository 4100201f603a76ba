import { z } from 'zod';
import { parseDuration } from './duration.js';

/** A duration in a manifest: a string such as "30s" or a number of seconds, to milliseconds. */
export const durationSchema = z.union([z.string(), z.number().nonnegative()]).transform((value, ctx) => {
  if (typeof value === 'number') return value * 1000;
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
