/**
 * `reembed profiles check --probe` (issue 15 item 4): one short text per profile, once, no
 * retries: which providers answer, with the dimensions the profile says, and why not.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';

/** A port nothing listens on: bound, read, closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('profiles check --probe', () => {
  let fake: FakeProvider;
  let dir: string;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 8 });
    const dead = await closedPort();
    dir = mkdtempSync(join(tmpdir(), 'reembed-probe-'));
    writeFileSync(
      join(dir, 'reembed.yaml'),
      `profiles:
  good: { provider: ollama, base_url: "${fake.url}", model: m, dims: 8 }
  wrong_dims: { provider: ollama, base_url: "${fake.url}", model: m, dims: 16 }
  down: { provider: ollama, base_url: "http://127.0.0.1:${dead}", model: m, dims: 8 }
  local: { provider: hash, dims: 32 }
environments:
  development: { profile: local }
`,
    );
  });
  afterAll(() => fake.close());

  it('prints a provider matrix and exits 1 when a provider is down or answers other dimensions', async () => {
    const r = await runCli(['profiles', 'check', '--probe', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(1);
    const { probe } = JSON.parse(r.stdout) as {
      probe: Array<{ profile: string; ok: boolean; dims: number | null; error: { code: string } | null }>;
    };
    const by = Object.fromEntries(probe.map((p) => [p.profile, p]));
    expect(by.good).toMatchObject({ ok: true, dims: 8, error: null });
    expect(by.local).toMatchObject({ ok: true, dims: 32 });
    expect(by.down).toMatchObject({ ok: false, dims: null });
    expect(by.down!.error!.code).toMatch(/[A-Z_]+/);
    expect(by.wrong_dims!.ok).toBe(false);
    // One request each for the live profiles: no retries.
    expect(fake.requests.length).toBe(2);

    const text = await runCli(['profiles', 'check', '--probe', '-p', 'good', 'local'], { cwd: dir });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^good\s+ollama\s+m\s+yes\s+8\s+\d+/m);
    expect(text.stdout).not.toMatch(/^down/m);
  });
});
