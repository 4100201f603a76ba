import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { fanOut, PrometheusServingMetrics, type ServingObserver } from '../../src/telemetry/prometheus.js';

/** The value of one series of a metric, by its labels. */
async function value(registry: Registry, name: string, labels: Record<string, string>, suffix = ''): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find(
    (v) =>
      (suffix === '' || (v as { metricName?: string }).metricName === `${name}${suffix}`) &&
      Object.entries(labels).every(([k, x]) => v.labels[k] === x) &&
      (suffix !== '_bucket' || v.labels.le !== undefined),
  );
  return match?.value ?? 0;
}

describe('Prometheus serving metrics', () => {
  it('counts requests, errors, fallbacks, latency, breaker opens and shadow reads per profile', async () => {
    const registry = new Registry();
    const m = new PrometheusServingMetrics(registry);
    m.request('cand', { ok: true, latencyMs: 4, embedMs: 1, searchMs: 3 });
    m.request('cand', { ok: true, latencyMs: 40 });
    m.request('cand', { ok: false, fallback: true, reason: { kind: 'timeout' } });
    m.request('ctrl', { ok: false, fallback: false });
    m.breakerOpened('cand');
    m.shadow('cand', { overlap: 0.6, rbo: 0.5 });
    m.shadow('cand', null);
    expect(await value(registry, 'reembed_search_requests_total', { profile: 'cand' })).toBe(3);
    expect(await value(registry, 'reembed_search_errors_total', { profile: 'cand' })).toBe(1);
    expect(await value(registry, 'reembed_search_fallbacks_total', { profile: 'cand' })).toBe(1);
    expect(await value(registry, 'reembed_search_fallbacks_total', { profile: 'cand', reason: 'timeout' })).toBe(1);
    expect(await value(registry, 'reembed_search_errors_total', { profile: 'ctrl' })).toBe(1);
    expect(await value(registry, 'reembed_search_fallbacks_total', { profile: 'ctrl' })).toBe(0);
    expect(await value(registry, 'reembed_search_duration_seconds', { profile: 'cand' }, '_count')).toBe(2);
    expect(await value(registry, 'reembed_search_embed_duration_seconds', { profile: 'cand' }, '_sum')).toBeCloseTo(
      0.001,
      9,
    );
    expect(await value(registry, 'reembed_search_query_duration_seconds', { profile: 'cand' }, '_count')).toBe(1);
    expect(await value(registry, 'reembed_search_duration_seconds', { profile: 'cand' }, '_sum')).toBeCloseTo(0.044, 9);
    expect(await value(registry, 'reembed_circuit_breaker_opens_total', { profile: 'cand' })).toBe(1);
    expect(await value(registry, 'reembed_shadow_comparisons_total', { candidate: 'cand' })).toBe(1);
    expect(await value(registry, 'reembed_shadow_errors_total', { candidate: 'cand' })).toBe(1);
    // A second instance on the same registry shares the series instead of failing to register.
    new PrometheusServingMetrics(registry).request('cand', { ok: true, latencyMs: 1 });
    expect(await value(registry, 'reembed_search_requests_total', { profile: 'cand' })).toBe(4);
  });

  it('counts rerank searches by arm, rank-1 changes, and the stage latency', async () => {
    const registry = new Registry();
    const m = new PrometheusServingMetrics(registry);
    m.rerank('p', { arm: 'on', changed: true, latencyMs: 2 });
    m.rerank('p', { arm: 'on', changed: false, latencyMs: 1 });
    m.rerank('p', { arm: 'off' });
    m.rerank('p', { arm: 'fallback', latencyMs: 500 });
    expect(await value(registry, 'reembed_rerank_searches_total', { profile: 'p', arm: 'on' })).toBe(2);
    expect(await value(registry, 'reembed_rerank_searches_total', { profile: 'p', arm: 'off' })).toBe(1);
    expect(await value(registry, 'reembed_rerank_searches_total', { profile: 'p', arm: 'fallback' })).toBe(1);
    expect(await value(registry, 'reembed_rerank_changed_total', { profile: 'p' })).toBe(1);
    expect(await value(registry, 'reembed_rerank_duration_seconds', { profile: 'p' }, '_count')).toBe(3);
    expect(await value(registry, 'reembed_rerank_duration_seconds', { profile: 'p' }, '_sum')).toBeCloseTo(0.503, 9);
  });

  it('counts query-cache lookups by result, and none for a profile without a cache', async () => {
    const registry = new Registry();
    const metrics = new PrometheusServingMetrics(registry);
    metrics.cache('p', 'hit');
    metrics.cache('p', 'hit');
    metrics.cache('p', 'shared_hit');
    metrics.cache('p', 'miss');
    metrics.cache('q', 'off');
    expect(await value(registry, 'reembed_query_cache_lookups_total', { profile: 'p', result: 'hit' })).toBe(2);
    expect(await value(registry, 'reembed_query_cache_lookups_total', { profile: 'p', result: 'shared_hit' })).toBe(1);
    expect(await value(registry, 'reembed_query_cache_lookups_total', { profile: 'p', result: 'miss' })).toBe(1);
    const text = await registry.metrics();
    expect(text).not.toMatch(/reembed_query_cache_lookups_total\{profile="q"/);
  });

  it('tells every observer, even when one throws', () => {
    const heard: string[] = [];
    const broken: ServingObserver = {
      request: () => {
        throw new Error('broken');
      },
      breakerOpened: () => {
        throw new Error('broken');
      },
      shadow: () => {
        throw new Error('broken');
      },
      cache: () => {
        throw new Error('broken');
      },
      shadowDropped: () => {
        throw new Error('broken');
      },
      quality: () => {
        throw new Error('broken');
      },
      queryTokens: () => {
        throw new Error('broken');
      },
      rerank: () => {
        throw new Error('broken');
      },
    };
    const listening: ServingObserver = {
      request: (p) => heard.push(`request ${p}`),
      breakerOpened: (p) => heard.push(`open ${p}`),
      shadow: (c) => heard.push(`shadow ${c}`),
      cache: (p, lookup) => heard.push(`cache ${p} ${lookup}`),
      shadowDropped: (c, reason) => heard.push(`dropped ${c} ${reason}`),
      quality: (p, signal) => heard.push(`quality ${p} ${signal.top1Score}`),
      queryTokens: (p, tokens) => heard.push(`tokens ${p} ${tokens}`),
      rerank: (p, event) => heard.push(`rerank ${p} ${event.arm}`),
    };
    const o = fanOut([broken, null, listening]);
    o.request('a', { ok: true, latencyMs: 1 });
    o.breakerOpened('a');
    o.shadow('b', null);
    o.cache('a', 'hit');
    o.shadowDropped('b', 'too_old');
    o.quality('a', { top1Score: 0.5 });
    o.queryTokens('a', 7);
    o.rerank('a', { arm: 'fallback', latencyMs: 3 });
    expect(heard).toEqual([
      'request a',
      'open a',
      'shadow b',
      'cache a hit',
      'dropped b too_old',
      'quality a 0.5',
      'tokens a 7',
      'rerank a fallback',
    ]);
  });

  it('the library counts its searches in the registry it returns, beside the profile info', async () => {
    const rb = await open({
      config: {
        source: { managed: true },
        profiles: { base: { provider: 'hash', dims: 32 } },
        environments: { test: { profile: 'base' } },
      },
      db: 'memory://',
      env: { REEMBED_ENV: 'test' },
    });
    try {
      await rb.backfill.run('base');
      await rb.upsert([{ id: 'a', content: 'rivers and lakes' }], { sync: true });
      for (let i = 0; i < 5; i++) await rb.search(`rivers ${i}`);
      const text = await rb.registry.metrics();
      expect(text).toMatch(/^reembed_search_requests_total\{profile="base"\} 5$/m);
      expect(text).toMatch(/^reembed_search_duration_seconds_count\{profile="base"\} 5$/m);
      expect(text).toMatch(/^reembed_embedding_profile_info\{environment="test",embedding_profile="base",.*\} 1$/m);
      // Embed and store-query time apart, beside the combined histogram.
      expect(text).toMatch(/^reembed_search_embed_duration_seconds_count\{profile="base"\} 5$/m);
      expect(text).toMatch(/^reembed_search_query_duration_seconds_count\{profile="base"\} 5$/m);
      // The facade's own registry carries the process's figures (prom-client's default metrics).
      const rss = /^process_resident_memory_bytes (\d+)$/m.exec(text);
      expect(Number(rss?.[1])).toBeGreaterThan(10 * 1024 * 1024);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    } finally {
      await rb.close();
    }
  });
});
