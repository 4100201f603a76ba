import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';
import { runCli } from '../helpers/cli.js';

const MANIFEST = `profiles:
  old: { provider: hash, dims: 32 }
  new: { provider: hash, dims: 64 }
environments:
  development: { profile: old }
`;

describe.each(BACKENDS)('the runbook’s backfill by workers on %s', (backend) => {
  it('migrate start, then workers alone: the candidate ends complete and indexed, and verify --ann passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-worker-index-'));
    writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
    writeFileSync(
      join(dir, 'docs.jsonl'),
      Array.from({ length: 200 }, (_, i) =>
        JSON.stringify({
          id: `d${i}`,
          text: `document ${i} about ${['cats', 'dogs', 'fish'][i % 3]} ${(i * 37) % 101}`,
        }),
      ).join('\n'),
    );
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    const cli = (...args: string[]) => runCli([...(server ? ['--db', server.url] : []), ...args], { cwd: dir });
    try {
      for (const args of [
        ['load', 'docs.jsonl'],
        ['backfill', '--profile', 'old'],
        ['migrate', 'plan', '--to', 'new'],
        ['migrate', 'start'],
      ]) {
        const r = await cli(...args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const before = await cli('verify', '--ann', '--profile', 'new', '--json');
      expect(JSON.parse(before.stdout).ann.error.code).toBe('ANN_INDEX_MISSING');

      const worker = await cli('worker', '--drain', '--workers', '2');
      expect(worker.code, worker.stderr).toBe(0);
      expect(worker.stderr).toMatch(/worker: the backfill of new is complete: building its index/);
      expect(worker.stderr).toMatch(/worker: index \S+ of new built in \d+\.\d s/);
      expect(worker.stderr.match(/building its index/g)).toHaveLength(1);

      const after = await cli('verify', '--ann', '--profile', 'new', '--ann-queries', '20', '--json');
      expect(after.code, after.stderr).toBe(0);
      expect(JSON.parse(after.stdout)).toMatchObject({ ok: true, ann: { ok: true, usedIndex: true } });
    } finally {
      await server?.drop();
    }
  });
});
