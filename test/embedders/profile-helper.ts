import { profileFingerprint } from '../../src/config/fingerprint.js';
import { profileSchema, type Profile, type ProfileInput } from '../../src/config/profile.js';

/** A validated profile as the manifest loader would produce it. */
export function makeProfile(input: ProfileInput, name = 'test_profile'): Profile {
  const settings = profileSchema.parse(input);
  return { ...settings, name, fingerprint: profileFingerprint(settings, '{content}') };
}

export function norm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  return Math.sqrt(sum);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot / (norm(a) * norm(b));
}

/** Records requested waits instead of waiting. */
export function recordingSleep(): { sleep: (ms: number, signal?: AbortSignal) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      waits.push(ms);
    },
  };
}
