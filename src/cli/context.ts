import { printable } from './format.js';
import type { Command } from 'commander';
import type { OpenOptions, Reembed } from '../reembed.js';
import { createProgress, type Progress } from './progress.js';

export interface GlobalOptions {
  config?: string;
  db?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What every command needs: options, output channels, and the facade. */
export class CliContext {
  readonly options: GlobalOptions;

  constructor(command: Command) {
    this.options = command.optsWithGlobals<GlobalOptions>();
  }

  get json(): boolean {
    return Boolean(this.options.json);
  }

  /**
   * The facade over the manifest and database of the global options. Lazy by default: nothing
   * is opened until a method needs it, and no router runs unless a command asks for one.
   */
  async open(options: Omit<OpenOptions, 'db'> = {}): Promise<Reembed> {
    // Loaded here, not at start-up: `--help` and argument errors never load the facade.
    const { open } = await import('../reembed.js');
    return open({ config: this.options.config, db: this.options.db, actor: 'cli', router: false, ...options });
  }

  /** Opens the facade, runs fn, and always closes it. */
  async withReembed<T>(fn: (rb: Reembed) => Promise<T>, options: Omit<OpenOptions, 'db'> = {}): Promise<T> {
    const rb = await this.open(options);
    try {
      return await fn(rb);
    } finally {
      await rb.close();
    }
  }

  /** The command's result: JSON on stdout with --json, else the human text on stdout. */
  result(data: unknown, human: () => string): void {
    process.stdout.write(this.json ? `${JSON.stringify(data, null, 2)}\n` : `${printable(human())}\n`);
  }

  /** Human information on stderr (never mixes with a JSON result). */
  info(message: string): void {
    if (!this.options.quiet) process.stderr.write(`${printable(message)}\n`);
  }

  /** Says on stderr that a worker retries after a transient database error, and when. */
  transientReporter(label: string): (error: unknown, attempt: number, delayMs: number) => void {
    return (error, attempt, delayMs) =>
      this.info(
        `${label}: database error (${error instanceof Error ? error.message : String(error)}); ` +
          `retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s, nothing lost`,
      );
  }

  progress(label: string): Progress {
    return createProgress(label, { quiet: this.options.quiet });
  }

  /** A reporter of long work (eval, demo, training): steps on stderr, a progress bar per label. */
  reporter(): CliReporter {
    const bars = new Map<string, Progress>();
    return {
      step: (m) => this.info(`• ${m}`),
      progress: (label, done, total, extra) => {
        let bar = bars.get(label);
        if (!bar) bars.set(label, (bar = this.progress(label)));
        bar.update(done, total, extra);
      },
      progressDone: (label) => bars.get(label)?.finish(),
    };
  }
}

export interface CliReporter {
  step(message: string): void;
  progress(label: string, done: number, total: number, extra?: string): void;
  progressDone(label: string): void;
}
