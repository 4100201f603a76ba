/**
 * Where a backfill's database time goes, without touching src/: a Database that forwards
 * everything to the real one and adds up, per phase, the wall time of the calls it forwards.
 * The phase comes from the SQL text (the candidate SELECT, the store write, leases, ...). A
 * transaction or session counts as one call, charged to the heaviest phase seen inside it, so
 * a write path that stages rows in a transaction is charged to `write` as a whole, BEGIN and
 * COMMIT included. It is a Proxy, so methods the interface gains later pass through as well.
 *
 * Calls from different workers overlap, so with several workers the figures are busy time
 * summed over workers, not shares of the wall clock.
 */
import { performance } from 'node:perf_hooks';
import type { Database } from '../../src/db/database.js';

export const PHASES = ['candidates', 'write', 'bookkeeping', 'failures', 'background', 'coverage', 'other'] as const;
export type Phase = (typeof PHASES)[number];

export const PHASE_LABELS: Record<Phase, string> = {
  candidates: 'candidate SELECT (render, hash, anti-join)',
  write: 'store write (guarded upsert)',
  bookkeeping: 'leases, chunks, pending work',
  failures: 'clear failures',
  background: 'heartbeat, control poll, lease renewal (timers)',
  coverage: 'coverage count (runBackfill, after the workers)',
  other: 'other SQL',
};

/** Heaviest first: a transaction that writes the store is a write, whatever else it runs. */
const PRIORITY: Phase[] = ['write', 'candidates', 'failures', 'bookkeeping', 'background', 'coverage', 'other'];

export function classify(sql: string): Phase {
  if (/\bAS sort_key\b/.test(sql) || /\bAS stale FROM\b/.test(sql)) return 'candidates';
  if (/count\(\*\) FILTER \(WHERE e\.content_hash =/.test(sql)) return 'coverage';
  if (/\bemb_\w+/.test(sql) && /^\s*(INSERT|COPY|UPDATE|DELETE|MERGE)\b/i.test(sql)) return 'write';
  if (/reembed\.failures\b/.test(sql)) return 'failures';
  if (
    /reembed\.(workers|control)\b/.test(sql) ||
    /WHERE leased_by = \$1 AND (NOT done AND )?lease_until IS NOT NULL/.test(sql)
  ) {
    return 'background';
  }
  if (/reembed\.(chunks|queue|backfills)\b/.test(sql)) return 'bookkeeping';
  return 'other';
}

export interface PhaseTimes {
  seconds: Record<Phase, number>;
  calls: Record<Phase, number>;
}

function emptyTimes(): PhaseTimes {
  const zero = () => Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  return { seconds: zero(), calls: zero() };
}

function firstSql(args: unknown[]): string {
  return typeof args[0] === 'string' ? args[0] : '';
}

/** A binary COPY (Queryable.copyFrom, where the interface has it) only ever fills a store or its staging table. */
function phaseOf(prop: string | symbol, args: unknown[]): Phase {
  return prop === 'copyFrom' ? 'write' : classify(firstSql(args));
}

/** Forwards every call, noting the phase of each statement it sees (no timing: the caller times). */
function recording<T extends object>(conn: T, seen: Set<Phase>): T {
  return new Proxy(conn, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        seen.add(phaseOf(prop, args));
        return Reflect.apply(value, target, args) as unknown;
      };
    },
  });
}

export interface TimedDatabase {
  db: Database;
  times: PhaseTimes;
  reset(): void;
}

export function timedDatabase(inner: Database): TimedDatabase {
  let times = emptyTimes();
  const add = (phase: Phase, started: number) => {
    times.seconds[phase] += (performance.now() - started) / 1000;
    times.calls[phase]++;
  };
  const db = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'close') return value;
      if (prop === 'transaction' || prop === 'session') {
        return async (fn: (conn: object) => Promise<unknown>) => {
          const seen = new Set<Phase>();
          const started = performance.now();
          try {
            return await (Reflect.apply(value, target, [
              (conn: object) => fn(recording(conn, seen)),
            ]) as Promise<unknown>);
          } finally {
            add(PRIORITY.find((p) => seen.has(p)) ?? 'other', started);
          }
        };
      }
      return async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return await (Reflect.apply(value, target, args) as Promise<unknown>);
        } finally {
          add(phaseOf(prop, args), started);
        }
      };
    },
  });
  return {
    db,
    get times() {
      return times;
    },
    reset() {
      times = emptyTimes();
    },
  };
}
