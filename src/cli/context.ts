import type { Command } from 'commander';
import { checkProfileEnvironment, getProfile, loadManifest, type Manifest } from '../config/manifest.js';
import { activeProfileName, type ProfileResolution } from '../config/environment.js';
import type { Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { openDatabase, resolveDatabaseTarget } from '../db/open.js';
import { ConfigError } from '../errors.js';
import { migrations } from '../schema.js';
import { startupBanner } from '../telemetry/profile-labels.js';
import { VERSION } from '../version.js';
import { createProgress, type Progress } from './progress.js';
import { resolveSource, type Source } from '../source/source.js';

export interface GlobalOptions {
  config?: string;
  db?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What every command needs: options, output channels, and lazily the manifest and database. */
export class CliContext {
  readonly options: GlobalOptions;
  private manifestCache?: Manifest;

  constructor(command: Command) {
    this.options = command.optsWithGlobals<GlobalOptions>();
  }

  get json(): boolean {
    return Boolean(this.options.json);
  }

  manifest(): Manifest {
    this.manifestCache ??= loadManifest(this.options.config);
    return this.manifestCache;
  }

  /** A profile by name, checked for what it needs from the environment (an API key). */
  profile(name: string): Profile {
    const profile = getProfile(this.manifest(), name);
    const problems = checkProfileEnvironment(profile);
    if (problems.length) throw new ConfigError(problems);
    return profile;
  }

  /** The active profile by the environment's gating rules, with the start-up banner. */
  activeProfile(): { profile: Profile; resolution: ProfileResolution } {
    const resolution = activeProfileName(this.manifest());
    this.info(startupBanner(resolution, VERSION));
    return { profile: this.profile(resolution.active), resolution };
  }

  databaseTarget(manifest?: Manifest): string {
    return resolveDatabaseTarget({ flag: this.options.db, manifest: manifest?.database });
  }

  async openDatabase(manifest?: Manifest): Promise<Database> {
    return openDatabase(this.databaseTarget(manifest), { migrations });
  }

  /** The command's result: JSON on stdout with --json, else the human text on stdout. */
  result(data: unknown, human: () => string): void {
    process.stdout.write(this.json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
  }

  /** Human information on stderr (never mixes with a JSON result). */
  info(message: string): void {
    if (!this.options.quiet) process.stderr.write(`${message}\n`);
  }

  /** Opens the database of the manifest, runs fn, and always closes it. */
  async withDatabase<T>(fn: (db: Database, manifest: Manifest) => Promise<T>): Promise<T> {
    const manifest = this.manifest();
    const db = await this.openDatabase(manifest);
    try {
      return await fn(db, manifest);
    } finally {
      await db.close();
    }
  }

  /** The manifest's source resolved against the database (attach mode checks the table). */
  async source(db: Database): Promise<Source> {
    const manifest = this.manifest();
    return resolveSource(
      db,
      manifest.source,
      [...manifest.profiles.values()].map((p) => p.template!),
    );
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
}
