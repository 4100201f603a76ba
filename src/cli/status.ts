import { truncatedPercent } from '../percent.js';
import type { Command } from 'commander';
import type { IndexReport, ProfileStatus } from '../reembed.js';
import { CliContext } from './context.js';
import { formatBytes, formatCost, listsLine, table } from './format.js';

function describeIndex(index: IndexReport | 'exact'): string {
  if (index === 'exact') return 'none (exact search)';
  if (!index.exists) return 'missing';
  const size = formatBytes(index.sizeBytes);
  if (!index.valid) return `INVALID (a failed build; the next backfill or worker rebuilds it)`;
  const options = Object.entries(index.options).map(([k, v]) => `${k} ${v}`);
  const lists = index.lists ? `; ${listsLine(index.lists)}` : '';
  const pending = index.rebuildPending ? ' (not the configured index: the next backfill or worker rebuilds it)' : '';
  return `${index.type}${options.length ? ` (${options.join(', ')})` : ''} ${size}${lists}${pending}`;
}

/** One line on a profile's just-in-time requests (searches that queued documents it lacked). */
export function describeJit(p: ProfileStatus): string {
  const { jit } = p;
  const wait = jit.timeToEmbedMs
    ? `, time to embed p50 ${formatMs(jit.timeToEmbedMs.p50)} p95 ${formatMs(jit.timeToEmbedMs.p95)} max ${formatMs(jit.timeToEmbedMs.max)}`
    : '';
  const minutes = Math.round((Date.parse(jit.window.to) - Date.parse(jit.window.from)) / 60_000);
  const oldest = jit.oldestPendingSeconds === null ? '' : ` (oldest ${jit.oldestPendingSeconds.toFixed(0)} s)`;
  return `just-in-time ${p.profile}: ${jit.pending} waiting${oldest}; ${jit.completed} embedded in the last ${minutes} min (${jit.itemsPerMinute.toFixed(1)}/min${wait})`;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'each profile’s coverage (counted), queue depth, failures, live workers, throttle state, current rate, index (IVFFlat: list sizes) and just-in-time requests (waiting, per minute, time to embed)',
    )
    .option('--stale-seconds <n>', 'a worker without a heartbeat for this long is not alive', Number, 60)
    .action(async (opts: { staleSeconds: number }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withReembed(async (rb) => {
        const result = await rb.status({ staleSeconds: opts.staleSeconds, listSizes: true });
        const { profiles, workers } = result;
        const kind = rb.manifest.source.managed === true ? 'managed' : 'attach';
        ctx.result(result, () =>
          [
            `database ${result.database}; source ${result.source} (${kind}); capture triggers ${result.captureInstalled ? 'installed' : 'not installed'}`,
            profiles.length === 0
              ? 'no profile has a store yet: start with `reembed backfill --profile NAME`'
              : table(
                  [
                    'profile',
                    'capture',
                    'coverage',
                    'current/rows',
                    'stale',
                    'queued',
                    'failures',
                    'workers',
                    'rows/s',
                    'state',
                    'rate limited',
                    'backfill tokens',
                    'index',
                  ],
                  profiles.map((p) => [
                    p.profile,
                    p.capture,
                    truncatedPercent(p.coverage.ratio),
                    `${p.coverage.current}/${p.coverage.sourceRows}`,
                    p.coverage.stale,
                    p.queued,
                    p.failures,
                    p.workersAlive,
                    p.rowsPerSecond.toFixed(0),
                    p.paused ? 'paused' : p.throttleRpm ? `throttled ${p.throttleRpm} rpm` : 'running',
                    p.rateLimited,
                    formatCost(p.backfillCost),
                    describeIndex(p.index),
                  ]),
                ),
            ...profiles.filter((p) => p.jit.pending + p.jit.completed > 0).map(describeJit),
            ...workers.map(
              (w) =>
                `worker ${w.workerId} (${w.host} pid ${w.pid}): ${w.rowsEmbedded} rows, heartbeat ${w.heartbeatAgeSeconds.toFixed(1)} s ago` +
                (w.rssBytes === null ? '' : `, process RSS ${formatBytes(w.rssBytes)}`),
            ),
            ...result.goneWorkers.map(
              (w) =>
                `worker ${w.workerId} (${w.host} pid ${w.pid}): GONE, no heartbeat for ${w.heartbeatAgeSeconds.toFixed(0)} s and no clean stop (killed?); its leases expire and other workers take its work over`,
            ),
          ].join('\n'),
        );
      });
    });
}
