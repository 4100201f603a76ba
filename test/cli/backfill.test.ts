import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { createArticles } from '../backfill/helpers.js';
import { runCli } from '../helpers/cli.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';

const MANIFEST = `source: { table: public.articles, id: id, text: "{title}\\n\\n{body}" }
profiles:
  small: { provider: hash, dims: 32, price_per_million_tokens: 0.5, rate_limit: { rpm: 600 }, batch_size: 50 }
environments:
  development: { profile: small }
`;

describe.each(BACKENDS)('backfill commands on %s', (backend) => {
  let dir: string;
  let target: string;
  let drop = async () => {};
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reembed-cli-backfill-'));
    writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
    if (backend === 'postgres') {
      const server = await createServerDatabase();
      target = server.url;
      drop = server.drop;
    } else {
      target = join(dir, 'state');
    }
    // The embedded database allows one process at a time: set up, then close before the CLI runs.
    const db = await openDatabase(target, { migrations });
    await createArticles(db, 700);
    await db.close();
  });
  afterAll(() => drop());

  const cli = (...args: string[]) => runCli(['--db', target, ...args], { cwd: dir });

  it('prints a dry-run plan without embedding anything', async () => {
    const r = await cli('backfill', '--profile', 'small', '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ dryRun: true, rows: 700, toEmbed: 700, chunks: 1, index: 'hnsw (vector_cosine_ops)' });
    expect(out.estimatedSeconds).toBeCloseTo((14 / 600) * 60, 6); // 14 requests of 50 at 600 rpm
    expect(out.estimatedCost).toBeGreaterThan(0);
    // The dry run counts chunks as the plan makes them: 7 full ones and the open range after them.
    const exact = JSON.parse(
      (await cli('backfill', '--profile', 'small', '--dry-run', '--chunk-size', '100', '--json')).stdout,
    );
    expect(exact.chunks).toBe(8);
    const dry200 = JSON.parse(
      (await cli('backfill', '--profile', 'small', '--dry-run', '--chunk-size', '200', '--json')).stdout,
    );
    expect(dry200.chunks).toBe(4);
    // --limit (with --filter) is honoured by the estimate: the first 10 rows to embed.
    const limited = await cli('backfill', '--profile', 'small', '--dry-run', '--limit', '10', '--filter', 'id=7');
    expect(limited.code, limited.stderr).toBe(0);
    expect(limited.stdout).toMatch(/source rows\s+1 where id = 7/);
    expect(limited.stdout).toMatch(/to embed\s+1 \(missing or stale; the first 10 by --limit\)/);
    const firstTen = JSON.parse(
      (await cli('backfill', '--profile', 'small', '--dry-run', '--limit', '10', '--json')).stdout,
    );
    expect(firstTen).toMatchObject({ rows: 700, toEmbed: 10, limit: 10 });
    const status = JSON.parse((await cli('backfill', 'status', '--profile', 'small', '--json')).stdout);
    expect(status.coverage).toMatchObject({ current: 0, sourceRows: 700 });
  });

  it('backfills, builds the index, and reports status; pause and throttle are stored', async () => {
    const r = await cli('backfill', '--profile', 'small', '--workers', '2', '--chunk-size', '200', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      embedded: 700,
      coverage: { current: 700, ratio: 1 },
      index: { search: 'hnsw', created: true },
    });
    // As many chunks as the dry run with the same --chunk-size said.
    expect(r.stderr).toMatch(/backfill small: 700 of 700 rows to embed in 4 chunks with 2 worker\(s\)/);

    expect((await cli('backfill', 'pause', '-p', 'small')).stdout).toBe('small: paused\n');
    expect((await cli('backfill', 'throttle', '-p', 'small', '--rpm', '30')).stdout).toBe(
      'small: throttled to 30 rpm (paused)\n',
    );
    const status = await cli('status', '--json');
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.captureInstalled).toBe(true);
    expect(s.profiles).toEqual([
      expect.objectContaining({
        profile: 'small',
        capture: true,
        queued: 0,
        failures: 0,
        paused: true,
        throttleRpm: 30,
        coverage: expect.objectContaining({ ratio: 1 }),
        index: expect.objectContaining({ exists: true, valid: true, type: 'hnsw' }),
        // The hash profile counts words as tokens; the manifest prices them at $0.50 per million.
        backfillCost: { tokens: expect.any(Number), estimatedTokens: 0, usd: expect.any(Number) },
      }),
    ]);
    const cost = s.profiles[0].backfillCost as { tokens: number; usd: number };
    expect(cost.tokens).toBeGreaterThan(700);
    expect(cost.usd).toBeCloseTo((cost.tokens / 1e6) * 0.5, 12);
    const human = (await cli('status')).stdout;
    const header = human.split('\n').find((l) => l.startsWith('profile'))!;
    expect(header.split(/\s{2,}/)).toEqual([
      'profile',
      'capture',
      'coverage',
      'current/rows',
      'stale',
      'queued',
      'failures',
      'workers',
      'rows/s',
      'state',
      'rate limited',
      'backfill tokens',
      'index',
    ]);
    expect(human).toMatch(
      /^small\s+true\s+100\.00%\s+700\/700\s+0\s+0\s+0\s+0\s+0\s+paused\s+0\s+[1-9][\d,]* \(\$0\.00\d+\)\s+hnsw \d+\.\d (KiB|MiB)$/m,
    );
    expect((await cli('backfill', 'resume', '-p', 'small')).stdout).toBe('small: running, throttled to 30 rpm\n');
    expect((await cli('backfill', 'throttle', '-p', 'small', '--off')).stdout).toBe('small: no throttle\n');
    expect((await cli('backfill', 'throttle', '-p', 'small')).code).toBe(2);
  });

  it('lists, retries and drops failures; detach removes the triggers', async () => {
    const list = await cli('failures', 'list');
    expect(list.stdout).toBe('no failures\n');
    expect(JSON.parse((await cli('failures', 'retry', '--json')).stdout)).toEqual({ requeued: 0 });
    expect(JSON.parse((await cli('failures', 'drop', '--json')).stdout)).toEqual({ dropped: 0 });
    const detach = await cli('detach');
    expect(detach.code, detach.stderr).toBe(0);
    expect(JSON.parse((await cli('status', '--json')).stdout).captureInstalled).toBe(false);
  });

  it('rejects a bad filter and an unknown profile with exit 2', async () => {
    const bad = await cli('backfill', '--profile', 'small', '--filter', 'nope=1');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--filter: column "nope" does not exist/);
    const unknown = await cli('backfill', '--profile', 'missing');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown profile "missing"/);
  });
});
