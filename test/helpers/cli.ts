import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scaled } from './slowdown.js';

export const BIN = fileURLToPath(new URL('../../bin/reembed.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (`npm test` builds first) in a child process, as a user would. The
 * environment is the test's own minus the variables that steer profile gating, plus `env`.
 * A run still going after `timeoutMs` (default: under the suite's test timeout; both scaled by
 * REEMBED_TEST_SLOWDOWN) is killed and
 * rejected with its output so far, so a hang neither outlives its test nor loads the next ones.
 */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of [
    'NODE_ENV',
    'ENV',
    'REEMBED_ENV',
    'EMBEDDINGS_PROFILE',
    'EMBEDDING_PROFILE_SWAPPABLE',
    'EMBEDDING_PROFILE_EXPERIMENT',
    'REEMBED_DATABASE_URL',
  ]) {
    delete env[key];
  }
  Object.assign(env, options.env);
  const ms = scaled(options.timeoutMs ?? 170_000);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`reembed ${args.join(' ')} still running after ${ms} ms; killed\n${stderr}`));
    }, ms);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
