import { activeProfileName, type ProfileResolution } from '../config/environment.js';
import { checkProfileEnvironment, getProfile, type Manifest } from '../config/manifest.js';
import { imageRefOf, profileTemplates, type Profile } from '../config/profile.js';
import type { Database } from '../db/database.js';
import { openDatabase, resolveDatabaseTarget } from '../db/open.js';
import { ConfigError } from '../errors.js';
import type { LifecycleContext } from '../migration/lifecycle.js';
import { backfillPlanner } from '../backfill/planner.js';
import { migrations } from '../schema.js';
import { resolveSource, type Source } from '../source/source.js';

/**
 * What every facade method shares: the manifest, the environment, and a database connection
 * and source opened on first use (so a command that needs neither never creates a database).
 */
export class FacadeCore {
  private db?: Promise<Database>;
  private src?: Promise<Source>;
  /** The database and source once open (for the facade's synchronous handles). */
  opened: { db?: Database; source?: Source } = {};

  constructor(
    readonly manifest: Manifest,
    readonly env: NodeJS.ProcessEnv,
    readonly actor: string,
    private readonly target: string | undefined,
  ) {}

  /** The database target: the `db` option, else REEMBED_DATABASE_URL, the manifest, `.reembed`. */
  get databaseTarget(): string {
    return resolveDatabaseTarget({ flag: this.target, manifest: this.manifest.database, env: this.env });
  }

  /** Whether the database has been opened (close() closes only what was opened). */
  get connected(): boolean {
    return this.db !== undefined;
  }

  database(): Promise<Database> {
    if (!this.db) {
      const opening = openDatabase(this.databaseTarget, { migrations }).then((db) => (this.opened.db = db));
      // A database that could not be opened is tried again by the next call.
      opening.catch(() => {
        if (this.db === opening) this.db = undefined;
      });
      this.db = opening;
    }
    return this.db;
  }

  /** The manifest's source resolved against the database with every profile's template. */
  source(): Promise<Source> {
    if (this.src) return this.src;
    const resolving = this.database().then((db) =>
      resolveSource(
        db,
        this.manifest.source,
        [...this.manifest.profiles.values()].flatMap((p) => profileTemplates(p)),
        [...this.manifest.profiles.values()].flatMap((p) => imageRefOf(p)?.column ?? []),
      ).then((source) => (this.opened.source = source)),
    );
    resolving.catch(() => {
      if (this.src === resolving) this.src = undefined;
    });
    this.src = resolving;
    return resolving;
  }

  /** The source checked against one profile's template only (verify must not fail on another's). */
  async sourceFor(profile: Profile): Promise<Source> {
    const image = imageRefOf(profile);
    return resolveSource(
      await this.database(),
      this.manifest.source,
      profileTemplates(profile),
      image ? [image.column] : [],
    );
  }

  /** The active profile by the environment's gating rules; throws the gate's error. */
  resolution(): ProfileResolution & { active: string } {
    return activeProfileName(this.manifest, this.env);
  }

  /** A profile that is about to call its provider: known, and its environment (API key) present. */
  profile(name: string): Profile {
    const profile = getProfile(this.manifest, name);
    const problems = checkProfileEnvironment(profile, this.env);
    if (problems.length) throw new ConfigError(problems);
    return profile;
  }

  /** A profile that only reads stored vectors (no provider call): known, nothing more. */
  storedProfile(name?: string): Profile {
    return getProfile(this.manifest, name ?? this.resolution().active);
  }

  async lifecycle(): Promise<LifecycleContext> {
    return {
      db: await this.database(),
      manifest: this.manifest,
      source: await this.source(),
      actor: this.actor,
      backfill: backfillPlanner,
    };
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    this.src = undefined;
    this.opened = {};
    if (db) await (await db.catch(() => null))?.close();
  }
}
