import type { Command } from 'commander';
import { liveWorkers, readControl } from '../backfill/control.js';
import { countCoverage, type Coverage } from '../backfill/coverage.js';
import { FAILURES_TABLE } from '../backfill/tables.js';
import { captureInstalled, QUEUE_TABLE } from '../source/capture.js';
import { indexStatus, type IndexStatus } from '../store/index.js';
import { PROFILES_TABLE, storeLayout } from '../store/store.js';
import { CliContext } from './context.js';
import { table } from './format.js';

/** One profile's line of `reembed status` (and its JSON). */
interface ProfileStatus {
  profile: string;
  capture: boolean;
  coverage: Coverage;
  queued: number;
  failures: number;
  workersAlive: number;
  paused: boolean;
  throttleRpm: number | null;
  rowsEmbeddedByLiveWorkers: number;
  rateLimited: number;
  rowsPerSecond: number;
  /** The store's HNSW index, or `exact` for a profile over pgvector's index limit. */
  index: IndexStatus | 'exact';
}

function describeIndex(index: IndexStatus | 'exact'): string {
  if (index === 'exact') return 'none (exact search)';
  if (!index.exists) return 'missing';
  const size = `${(index.sizeBytes / 1048576).toFixed(1)} MB`;
  return index.valid ? `${index.type} ${size}` : `INVALID (a failed build; the next backfill or worker rebuilds it)`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'each profile’s coverage (counted), queue depth, failures, live workers, throttle state, current rate and HNSW index',
    )
    .option('--stale-seconds <n>', 'a worker without a heartbeat for this long is not alive', Number, 60)
    .action(async (opts: { staleSeconds: number }, command: Command) => {
      const ctx = new CliContext(command);
      await ctx.withDatabase(async (db, manifest) => {
        const source = await ctx.source(db);
        const { rows: stored } = await db.query<{ name: string; capture: boolean }>(
          `SELECT name, capture FROM ${PROFILES_TABLE} ORDER BY name`,
        );
        const capture = new Map(stored.map((r) => [r.name, r.capture]));
        const names = [...manifest.profiles.keys()].filter((n) => capture.has(n));
        const { rows: queue } = await db.query<{ profile: string; n: string | number }>(
          `SELECT profile, count(*) AS n FROM ${QUEUE_TABLE} GROUP BY profile`,
        );
        const { rows: failed } = await db.query<{ profile: string; n: string | number }>(
          `SELECT profile, count(*) AS n FROM ${FAILURES_TABLE} GROUP BY profile`,
        );
        const count = (rows: Array<{ profile: string; n: string | number }>, p: string) =>
          Number(rows.find((r) => r.profile === p)?.n ?? 0);
        const control = await readControl(db, names);
        const workers = await liveWorkers(db, opts.staleSeconds);
        const profiles: ProfileStatus[] = [];
        for (const name of names) {
          const profile = manifest.profiles.get(name)!;
          const coverage = await countCoverage(db, source, profile);
          const mine = workers.filter((w) => w.profiles.includes(name));
          profiles.push({
            profile: name,
            capture: capture.get(name) ?? false,
            coverage,
            queued: count(queue, name),
            failures: count(failed, name),
            workersAlive: mine.length,
            paused: control.get(name)!.paused,
            throttleRpm: control.get(name)!.rpm,
            rowsEmbeddedByLiveWorkers: mine.reduce((a, w) => a + w.rowsEmbedded, 0),
            rateLimited: mine.reduce((a, w) => a + w.rateLimited, 0),
            rowsPerSecond: mine.reduce((a, w) => a + w.rowsPerSecond, 0),
            index: storeLayout(profile).index === 'exact' ? 'exact' : await indexStatus(db, profile),
          });
        }
        const result = {
          database: db.target,
          source: `${source.schemaName}.${source.tableName}`,
          captureInstalled: await captureInstalled(db, source),
          profiles,
          workers,
        };
        ctx.result(result, () =>
          [
            `database ${db.target}; source ${result.source} (${source.kind}); capture triggers ${result.captureInstalled ? 'installed' : 'not installed'}`,
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
                    'index',
                  ],
                  profiles.map((p) => [
                    p.profile,
                    p.capture,
                    `${(p.coverage.ratio * 100).toFixed(2)}%`,
                    `${p.coverage.current}/${p.coverage.sourceRows}`,
                    p.coverage.stale,
                    p.queued,
                    p.failures,
                    p.workersAlive,
                    p.rowsPerSecond.toFixed(0),
                    p.paused ? 'paused' : p.throttleRpm ? `throttled ${p.throttleRpm} rpm` : 'running',
                    p.rateLimited,
                    describeIndex(p.index),
                  ]),
                ),
            ...workers.map(
              (w) =>
                `worker ${w.workerId} (${w.host} pid ${w.pid}): ${w.rowsEmbedded} rows, heartbeat ${w.heartbeatAgeSeconds.toFixed(1)} s ago`,
            ),
          ].join('\n'),
        );
      });
    });
}
