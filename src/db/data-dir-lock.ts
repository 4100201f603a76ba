/**
 * The embedded database allows one process at a time: a second PGlite instance on the same
 * directory neither fails nor sees the first one's writes, and whichever closes last wins, so
 * another process's writes are silently lost. A lock file in the data directory, created with
 * O_EXCL and naming its holder, makes a second opener fail at once instead.
 *
 * A lock whose holder is gone (its pid no longer runs, or now belongs to a process that started
 * later) is taken over. Two processes that find the same stale lock race through a second
 * O_EXCL file, so exactly one of them takes it.
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ReembedError } from '../errors.js';

export const LOCK_FILE = 'reembed.lock';
/** A takeover older than this was abandoned by a process that died in the middle of it. */
const TAKEOVER_STALE_MS = 10_000;

export interface LockHolder {
  pid: number;
  host: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  started: string | null;
  command: string;
  since: string;
}

/** Another live process holds the embedded data directory. Exit code 2. */
export class DatabaseLockedError extends ReembedError {
  readonly holder: LockHolder | null;
  constructor(dir: string, holder: LockHolder | null) {
    const who = holder
      ? `pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''} (${holder.command}, since ${holder.since})`
      : 'another process';
    super(
      'DATABASE_LOCKED',
      `${dir} is in use by ${who}; stop it, or use a PostgreSQL server for several processes ` +
        `(the embedded database allows one process at a time)`,
      { exitCode: 2, details: holder ? { ...holder } : undefined },
    );
    this.holder = holder;
  }
}

/** Linux: field 22 of /proc/PID/stat. Null where there is no /proc. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the lock's holder may still be using the directory. */
function alive(holder: LockHolder): boolean {
  // Another machine's process (a shared file system) cannot be checked: it counts as alive.
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return true;
  if (!running(holder.pid)) return false;
  const started = processStart(holder.pid);
  return holder.started === null || started === null || started === holder.started;
}

function readHolder(path: string): LockHolder | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return null;
    return {
      pid: parsed.pid,
      host: parsed.host,
      started: typeof parsed.started === 'string' ? parsed.started : null,
      command: typeof parsed.command === 'string' ? parsed.command : 'unknown command',
      since: typeof parsed.since === 'string' ? parsed.since : 'unknown',
    };
  } catch {
    return null;
  }
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/**
 * Takes the directory's lock for this process or throws DatabaseLockedError. `release()` (also
 * run at process exit) removes it if it is still this process's.
 */
export function lockDataDir(dir: string): DataDirLock {
  const path = join(dir, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: processStart(process.pid),
    command: process.argv
      .slice(1)
      .map((a) => a.replace(/^.*\/(?=[^/]+$)/, ''))
      .join(' ')
      .slice(0, 200),
    since: new Date().toISOString(),
  };
  const content = JSON.stringify(me);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(path, content)) return held(path, content);
    const holder = readHolder(path);
    // An unreadable lock may be one being written this instant: only a readable stale one is taken.
    if (!holder) {
      if (age(path) < TAKEOVER_STALE_MS) throw new DatabaseLockedError(dir, null);
    } else if (alive(holder)) {
      throw new DatabaseLockedError(dir, holder);
    }
    takeOver(path, holder);
  }
  throw new DatabaseLockedError(dir, readHolder(path));
}

function age(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Infinity;
  }
}

/** Removes a stale lock, under a second exclusive file so that only one process does it. */
function takeOver(path: string, stale: LockHolder | null): void {
  const guard = `${path}.takeover`;
  if (!createExclusive(guard, String(process.pid))) {
    if (age(guard) < TAKEOVER_STALE_MS) return; // another process is taking over: try again, and lose
    // Renamed, not unlinked: of two processes clearing an abandoned guard, one fails the rename.
    try {
      renameSync(guard, `${guard}.${process.pid}`);
      unlinkSync(`${guard}.${process.pid}`);
    } catch {
      return;
    }
    if (!createExclusive(guard, String(process.pid))) return;
  }
  try {
    const now = readHolder(path);
    // Still the same stale holder (not a lock a faster process just took): remove it.
    if (JSON.stringify(now) === JSON.stringify(stale)) {
      try {
        unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  } finally {
    unlinkSync(guard);
  }
}

function held(path: string, content: string): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (readFileSync(path, 'utf8') === content) unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
  process.on('exit', release);
  return { path, release };
}
