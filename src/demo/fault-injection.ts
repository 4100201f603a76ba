import type { Profile } from '../config/profile.js';
import { createProviderClient, type CreateEmbedderOptions } from '../embedders/create.js';
import { ProviderRejectedError } from '../embedders/errors.js';
import type { ProviderClient } from '../embedders/provider.js';

export interface InjectedFaults {
  /** Share of query embeddings that fail (a non-retryable 422, so retries cannot hide it). */
  errorRate?: number;
  /** Added to every query embedding. */
  extraLatencyMs?: number;
}

/**
 * A provider hook that makes chosen profiles misbehave at query time only (their backfill is
 * untouched), for the demo's failing candidate and for controller tests: the same client the
 * profile would use, with errors and latency added in front of it.
 */
export function injectFaults(
  faults: Record<string, InjectedFaults>,
  random: () => number,
  base: CreateEmbedderOptions = {},
): NonNullable<CreateEmbedderOptions['provider']> {
  return (profile: Profile): ProviderClient => {
    const inner = createProviderClient(profile, { ...base, provider: undefined });
    const f = faults[profile.name];
    if (!f) return inner;
    return {
      provider: inner.provider,
      endpoint: inner.endpoint,
      async embedBatch(texts, purpose, signal) {
        if (purpose === 'query') {
          if (f.extraLatencyMs) await new Promise((r) => setTimeout(r, f.extraLatencyMs));
          if (f.errorRate && random() < f.errorRate)
            throw new ProviderRejectedError(profile.name, 422, 'injected fault: the candidate refused the query');
        }
        return inner.embedBatch(texts, purpose, signal);
      },
    };
  };
}
