import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fakeVector, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';

describe('reembed embed against a local provider server', () => {
  let fake: FakeProvider;
  let ollama: FakeProvider;
  let dir: string;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 12, apiKey: 'sk-local' });
    ollama = await startFakeProvider({ dims: 12 });
    dir = mkdtempSync(join(tmpdir(), 'reembed-embed-'));
    writeFileSync(
      join(dir, 'reembed.yaml'),
      `profiles:
  remote:
    provider: openai-compatible
    base_url: ${fake.openaiUrl}
    model: fake-model
    dims: 12
    api_key_env: LOCAL_KEY
    query_prefix: "query: "
  native:
    provider: ollama
    base_url: ${ollama.url}
    model: fake-model
    dims: 12
    normalize: false
environments:
  development: { profile: remote }
`,
    );
  });
  afterAll(async () => {
    await fake.close();
    await ollama.close();
  });

  it('embeds through the OpenAI wire format with the key from the named variable', async () => {
    const r = await runCli(['embed', '--profile', 'remote', '--query', 'hello world', '--json'], {
      cwd: dir,
      env: { LOCAL_KEY: 'sk-local' },
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ profile: 'remote', provider: 'openai-compatible', dims: 12, purpose: 'query' });
    // The server saw the prefixed text, and the CLI normalized what it returned.
    const expected = fakeVector('query: hello world', 12);
    const n = Math.hypot(...expected);
    out.vector.forEach((x: number, i: number) => expect(x).toBeCloseTo(expected[i]! / n, 5));
    expect(out.norm).toBeCloseTo(1, 6);
    const last = fake.requests.at(-1)!;
    expect(last.headers.authorization).toBe('Bearer sk-local');
  });

  it('embeds through the Ollama wire format', async () => {
    const r = await runCli(['embed', '--profile', 'native', 'hello world', '--json'], {
      cwd: dir,
      env: { LOCAL_KEY: 'x' },
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.vector).toEqual(fakeVector('hello world', 12).map((x) => expect.closeTo(x, 5)));
    expect(ollama.requests.at(-1)!.path).toBe('/api/embed');
  });

  it('fails with exit 2 naming the variable when the API key is missing', async () => {
    const r = await runCli(['embed', '--profile', 'remote', 'hello'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/LOCAL_KEY is not set/);
  });

  it('fails with exit 1 and a typed error when the provider returns a bad vector, printing no vector', async () => {
    ollama.setFaults({ sequence: Array(10).fill({ kind: 'wrong-dims', dims: 5 }) });
    try {
      const r = await runCli(['embed', '--profile', 'native', 'hello', '--json'], { cwd: dir });
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout);
      expect(out.error.code).toBe('INVALID_RESPONSE');
      expect(out.vector).toBeUndefined();
      expect(r.stderr).toMatch(/dim/i);
    } finally {
      ollama.setFaults({});
    }
  });
});
