/**
 * `serve --controller`: the rollout controller in the service's process, for as long as it
 * runs. It drives the newest migration to its end, then waits for the next one; it stands by
 * while another process holds the lease, and keeps going through database outages.
 */
import { ReembedError, type ReembedErrorCode } from '../errors.js';
import { logger } from '../logger.js';
import { endedEarly, type Reembed, type TickReport } from '../reembed.js';

const WAIT: ReembedErrorCode[] = ['NO_MIGRATION', 'MIGRATION_NOT_FOUND'];

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function runControllerLoop(
  rb: Reembed,
  options: { signal: AbortSignal; actor?: string; idleMs?: number; onTick?: (report: TickReport) => void },
): Promise<void> {
  const log = logger.child({ component: 'controller' });
  const idleMs = options.idleMs ?? 5000;
  let finished: { id: string; version: number } | null = null;
  while (!options.signal.aborted) {
    try {
      const m = await rb.migration.status();
      // A migration this loop saw end waits for a person (or a new migration) to change it.
      const idle =
        !m ||
        (finished && m.id === finished.id && m.version === finished.version) ||
        endedEarly(m.phase) ||
        m.phase === 'finalized' ||
        m.phase === 'cleaned';
      if (!idle) {
        const controller = await rb.controller({ actor: options.actor ?? 'serve-controller' });
        const last = await controller.run({
          signal: options.signal,
          onTick: (report) => {
            log.info(
              { migration: report.migration.id, decision: report.tick.decision, reason: report.tick.reason },
              'tick',
            );
            options.onTick?.(report);
          },
          onStandby: (standby) => log.info({ standby: standby.details }, 'another controller holds the lease'),
          onError: (error) => log.warn({ err: error }, 'controller tick failed; trying again'),
        });
        if (last?.done) finished = { id: last.migration.id, version: last.migration.version };
      }
    } catch (error) {
      if (!(error instanceof ReembedError && WAIT.includes(error.code)))
        log.warn({ err: error }, 'controller stopped; starting again');
    }
    await sleep(idleMs, options.signal);
  }
}
