import type { Database } from '../db/database.js';
import { activeMigration, latestMigration, type MigrationState } from '../migration/state.js';
import { MIGRATION_CHANNEL } from '../migration/tables.js';
import { warnAndContinue } from '../logger.js';

export interface WatcherOptions {
  /** How often the migration row is read (default 200 ms: every instance follows within 1 s). */
  pollMs?: number;
  onChange?: (state: MigrationState | null) => void;
  onError?: (error: unknown) => void;
}

/**
 * Follows the source's migration for a router instance. It keeps the last state it read, so a
 * database that is briefly unreachable does not stop serving: searches go on with the last
 * known phase and percentage until the next successful read.
 */
export class MigrationWatcher {
  private state: MigrationState | null = null;
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private lastError: unknown = null;
  private unlisten?: () => Promise<void>;
  private followUp?: Promise<void>;

  constructor(
    private readonly db: Database,
    private readonly source: string,
    private readonly options: WatcherOptions = {},
  ) {}

  /**
   * Reads the state once (and throws if it cannot), then follows it: every transition
   * NOTIFYs (delivered at commit), and polling catches whatever a dropped connection missed.
   */
  async start(): Promise<void> {
    await this.refresh(true);
    try {
      this.unlisten = await this.db.listen(MIGRATION_CHANNEL, () => void this.refresh(false));
    } catch (error) {
      // Polling alone still meets the one-second promise; say why the fast path is off.
      this.options.onError?.(error);
    }
    this.timer = setInterval(() => void this.refresh(false), this.options.pollMs ?? 200);
    this.timer.unref();
  }

  current(): MigrationState | null {
    return this.state;
  }

  /** The last read error, or null when the last read worked. */
  get error(): unknown {
    return this.lastError;
  }

  /**
   * Reads the migration row now. One read at a time, so a slow database does not pile reads
   * up; a call during a read (a NOTIFY of a commit the read may have missed, or a caller that
   * just changed the migration) waits for one more read that starts after it, shared by every
   * such call.
   */
  async refresh(throwOnError = false): Promise<void> {
    if (this.reading) {
      // Only waits for the read in flight: its failure went to onError and to its caller.
      this.followUp ??= this.reading
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => {
          this.followUp = undefined;
          return this.read(throwOnError);
        });
      return this.followUp;
    }
    return this.read(throwOnError);
  }

  private read(throwOnError: boolean): Promise<void> {
    this.reading = (async () => {
      try {
        const active = await activeMigration(this.db, this.source);
        // A rolled-back migration still matters: it says "serve the control".
        const next = active ?? (await latestMigration(this.db, this.source));
        this.lastError = null;
        if (next?.id !== this.state?.id || next?.version !== this.state?.version) {
          this.state = next;
          this.options.onChange?.(next);
        }
      } catch (error) {
        this.lastError = error;
        this.options.onError?.(error);
        if (throwOnError) throw error;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    void this.unlisten?.().catch(warnAndContinue('stopping the LISTEN of migration changes', { source: this.source }));
  }
}
