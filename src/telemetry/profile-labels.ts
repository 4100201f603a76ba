import type { Gauge, Registry } from 'prom-client';
import type { ProfileResolution } from '../config/environment.js';
import { promClient } from './prom-client.js';

/** The runbooks' label names, so existing dashboards and alerts keep working. */
export function profileLabels(resolution: ProfileResolution): Record<string, string> {
  return {
    environment: resolution.environment,
    embedding_profile: resolution.active ?? '',
    embedding_profile_swappable: String(resolution.swappable),
    embedding_profile_experiment: resolution.experiment ?? '',
    embedding_strict_mode: String(resolution.strict),
    embedding_namespace_mode: resolution.namespace,
  };
}

/** Registers `reembed_embedding_profile_info{…} 1` on a registry (an info-style gauge). */
export function registerProfileInfo(registry: Registry, resolution: ProfileResolution): Gauge {
  const labels = profileLabels(resolution);
  const gauge = new (promClient().Gauge)({
    name: 'reembed_embedding_profile_info',
    help: 'The resolved embedding profile of this process (value is always 1)',
    labelNames: Object.keys(labels),
    registers: [registry],
  });
  gauge.set(labels, 1);
  return gauge;
}

/** One start-up line that says which profile this process serves and why. */
export function startupBanner(resolution: ProfileResolution, version: string): string {
  const why = resolution.allowedBy
    ? `override allowed by ${resolution.allowedBy}`
    : resolution.override
      ? 'override equals baseline'
      : 'baseline';
  return (
    `reembed ${version} · environment=${resolution.environment} · embedding_profile=${resolution.active} (${why})` +
    ` · embedding_profile_swappable=${resolution.swappable} · embedding_profile_experiment=${resolution.experiment ?? '-'}` +
    ` · embedding_strict_mode=${resolution.strict} · embedding_namespace_mode=${resolution.namespace}`
  );
}
