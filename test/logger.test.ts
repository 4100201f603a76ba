import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

// The built logger (`npm test` builds first), in a child process: what reaches stderr is what a user sees.
const LOGGER = fileURLToPath(new URL('../dist/logger.js', import.meta.url));

function run(code: string, env: NodeJS.ProcessEnv = {}): { stdout: string; lines: Record<string, unknown>[] } {
  const childEnv = { ...process.env, ...env };
  if (!('REEMBED_LOG_LEVEL' in env)) delete childEnv.REEMBED_LOG_LEVEL;
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import * as log from ${JSON.stringify(LOGGER)};\n${code}`],
    { env: childEnv, encoding: 'utf8' },
  );
  expect(r.status).toBe(0);
  const lines = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stdout: r.stdout, lines };
}

const BOTH = `log.logger.info('an info line'); log.warnAndContinue('giving back the leases', { worker: 'w1' })(new Error('connection reset'));`;

describe('logger', () => {
  it('writes JSON lines at warn and above to stderr by default, with what was being done and the error', () => {
    const { stdout, lines } = run(BOTH);
    expect(stdout).toBe('');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 40,
      name: 'reembed',
      msg: 'giving back the leases failed',
      worker: 'w1',
      err: { type: 'Error', message: 'connection reset' },
    });
  });

  it('redacts passwords and tokens from every line', () => {
    const { lines } = run(
      `log.warnAndContinue('opening', { url: 'postgres://app:pa/ss@db:5432/x' })(new Error('GET https://h/x?token=t0ken failed'));`,
    );
    const text = JSON.stringify(lines);
    expect(text).toContain('postgres://app:***@db:5432/x');
    expect(text).toContain('token=***');
    expect(text).not.toMatch(/pa\/ss|t0ken/);
  });

  it('takes its level from REEMBED_LOG_LEVEL, and from setLogLevel (the CLI --log-level) over it', () => {
    expect(run(BOTH, { REEMBED_LOG_LEVEL: 'info' }).lines.map((l) => l.msg)).toEqual([
      'an info line',
      'giving back the leases failed',
    ]);
    expect(run(`log.setLogLevel('silent'); ${BOTH}`, { REEMBED_LOG_LEVEL: 'info' }).lines).toEqual([]);
  });

  it('says so and logs at warn when REEMBED_LOG_LEVEL is not a level', () => {
    const { lines } = run(BOTH, { REEMBED_LOG_LEVEL: 'loud' });
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^REEMBED_LOG_LEVEL is not one of fatal, error, warn/),
      'giving back the leases failed',
    ]);
  });

  it('is set by the global --log-level option, which refuses an unknown level (exit 2)', async () => {
    const bad = await runCli(['--log-level', 'loud', 'profiles', 'list']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--log-level.*Allowed choices are fatal, error, warn, info, debug, trace, silent/s);
    const help = await runCli(['--help']);
    expect(help.stdout).toContain('--log-level <level>');
  });
});
