/**
 * The backfill's promises under real processes on PostgreSQL: SIGKILL at any moment loses
 * nothing, and concurrent writes never leave a stale vector. (PGlite is one process by design,
 * so these apply to the server only.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countCoverage } from '../../src/backfill/coverage.js';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { storeLayout } from '../../src/store/store.js';
import { BIN, runCli } from '../helpers/cli.js';
import { createServerDatabase } from '../helpers/databases.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { articlesSource, createArticles, expectStoreMatchesSource, fakeEmbed, sleep } from './helpers.js';
import { scaled } from '../helpers/slowdown.js';

const WRITER = fileURLToPath(new URL('../fixtures/source-writer.mjs', import.meta.url));

function manifestYaml(providerUrl: string): string {
  return `source: { table: public.articles, id: id, text: "{title}\\n\\n{body}" }
profiles:
  remote: { provider: ollama, base_url: "${providerUrl}", model: fake, dims: 16, batch_size: 10, concurrency: 1 }
environments:
  development: { profile: remote }
`;
}

function start(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, NODE_ENV: '', REEMBED_ENV: 'development', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

describe('backfill processes on postgres', () => {
  let fake: FakeProvider;
  let server: { url: string; drop: () => Promise<void> };
  let db: Database;
  let config: string;
  beforeAll(async () => {
    fake = await startFakeProvider({ dims: 16, latencyMs: 20 });
    const dir = mkdtempSync(join(tmpdir(), 'reembed-crash-'));
    config = join(dir, 'reembed.yaml');
    writeFileSync(config, manifestYaml(fake.url));
  });
  afterAll(() => fake.close());

  const manifest = () =>
    buildManifest(
      {
        source: { table: 'public.articles', id: 'id', text: '{title}\n\n{body}' },
        profiles: {
          remote: { provider: 'ollama', base_url: fake.url, model: 'fake', dims: 16, batch_size: 10, concurrency: 1 },
        },
      },
      null,
    );
  const backfillArgs = () => [
    BIN,
    '--config',
    config,
    '--db',
    server.url,
    '--quiet',
    'backfill',
    '--profile',
    'remote',
    '--workers',
    '2',
    '--lease-seconds',
    '1',
    '--page-size',
    '20',
    '--chunk-size',
    '100',
  ];

  async function freshDatabase(rows: number): Promise<void> {
    server = await createServerDatabase();
    db = await openDatabase(server.url, { migrations });
    await createArticles(db, rows);
  }

  async function expectComplete(): Promise<void> {
    const m = manifest();
    const profile = getProfile(m, 'remote');
    const source = await articlesSource(db, m);
    const coverage = await countCoverage(db, source, profile);
    expect(coverage.ratio).toBe(1);
    expect(coverage.stale).toBe(0);
    const { rows } = await db.query<{ n: number; d: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT doc_id)::int AS d FROM ${storeLayout(profile).table}`,
    );
    expect(rows[0]!.n).toBe(rows[0]!.d);
    const check = await expectStoreMatchesSource(db, source, profile, fakeEmbed(16));
    expect(check).toEqual({ rows: coverage.sourceRows, mismatched: [], missing: [], orphans: [] });
    const { rows: queue } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM reembed.queue');
    expect(queue[0]!.n).toBe(0);
  }

  it('survives 20+ SIGKILLs at random moments: complete, no stale, orphan or duplicate rows', async () => {
    await freshDatabase(3000);
    try {
      let kills = 0;
      let completions = 0;
      let round = 0;
      let killedMidWork = 0;
      const stored = async () =>
        (
          await db
            .query<{ n: number }>('SELECT count(*)::int AS n FROM reembed."emb_remote"')
            .catch(() => ({ rows: [{ n: 0 }] }))
        ).rows[0]!.n;
      let before = await stored();
      while (kills < 20) {
        const run = start(backfillArgs());
        const jitter = (round * 7919) % 600;
        if (round++ % 2 === 0) {
          // Kill mid-backfill: a random moment after this run has written something.
          const atStart = await stored();
          const deadline = performance.now() + scaled(15_000);
          while (run.child.exitCode === null && (await stored()) === atStart && performance.now() < deadline)
            await sleep(20);
          await sleep(jitter);
        } else {
          // Kill early: start-up, capture installation, planning, first leases.
          await sleep(100 + jitter * 2);
        }
        if (run.child.exitCode === null) {
          run.child.kill('SIGKILL');
          const r = await run.done;
          expect(r.signal).toBe('SIGKILL');
          kills++;
          const after = await stored();
          const sourceRows = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM public.articles')).rows[0]!
            .n;
          // Killed after it had written something and before it finished: a kill mid-backfill.
          if (after > before && after < sourceRows) killedMidWork++;
          before = after;
        } else {
          const r = await run.done;
          expect(r.code, r.stderr).toBe(0);
          completions++;
          // Finished before the kill: add rows (and delete a few) so there is work to interrupt.
          await createArticles(db, 800, 10_000 + completions * 1000);
          await db.exec(`DELETE FROM public.articles WHERE id % 97 = ${completions}`);
          before = await stored();
        }
      }
      const final = await start(backfillArgs()).done;
      expect(final.code, final.stderr).toBe(0);
      expect(kills).toBeGreaterThanOrEqual(20);
      expect(killedMidWork).toBeGreaterThanOrEqual(10);
      await expectComplete();
    } finally {
      await db.close();
      await server.drop();
    }
  });

  it('status shows a SIGKILLed worker as gone once its heartbeat is stale, and a cleanly stopped one not at all', async () => {
    await freshDatabase(3000);
    try {
      const stored = async () =>
        (
          await db
            .query<{ n: number }>('SELECT count(*)::int AS n FROM reembed."emb_remote"')
            .catch(() => ({ rows: [{ n: 0 }] }))
        ).rows[0]!.n;
      const run = start(backfillArgs());
      const deadline = performance.now() + 60_000;
      while (run.child.exitCode === null && (await stored()) === 0 && performance.now() < deadline) await sleep(20);
      expect(run.child.exitCode, 'the backfill finished before it could be killed').toBeNull();
      const killedPid = run.child.pid!;
      run.child.kill('SIGKILL');
      expect((await run.done).signal).toBe('SIGKILL');

      const status = async () => {
        const r = await runCli(['--config', config, '--db', server.url, '--json', 'status', '--stale-seconds', '2']);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as {
          workers: Array<{ pid: number }>;
          goneWorkers: Array<{ pid: number; heartbeatAgeSeconds: number; rowsEmbedded: number }>;
        };
      };
      // Stale after 2 s without a heartbeat: gone, and no longer counted alive.
      await sleep(2_500);
      const after = await status();
      expect(after.workers.map((w) => w.pid)).not.toContain(killedPid);
      const gone = after.goneWorkers.filter((w) => w.pid === killedPid);
      expect(gone.length).toBeGreaterThan(0);
      expect(gone.every((w) => w.heartbeatAgeSeconds >= 2)).toBe(true);
      const text = await runCli(['--config', config, '--db', server.url, 'status', '--stale-seconds', '2']);
      expect(text.stdout).toContain(`pid ${killedPid}): GONE`);

      // A run that ends normally records a clean stop: never reported as gone.
      const clean = start(backfillArgs());
      const finished = await clean.done;
      expect(finished.code, finished.stderr).toBe(0);
      await sleep(2_500);
      const later = await status();
      expect(later.goneWorkers.map((w) => w.pid)).not.toContain(clean.child.pid);
      expect(later.goneWorkers.map((w) => w.pid)).toContain(killedPid);
    } finally {
      await db.close();
      await server.drop();
    }
  });

  it('leaves no drift while another process inserts, updates and deletes during the backfill', async () => {
    await freshDatabase(2000);
    try {
      const writer = start([WRITER, server.url, '4', '11']);
      const backfill = start(backfillArgs());
      const [w, b] = await Promise.all([writer.done, backfill.done]);
      expect(w.code, w.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const counts = JSON.parse(w.stdout);
      expect(counts.update + counts.insert + counts.delete).toBeGreaterThan(100);
      // The writer may outlive the backfill: a worker drains what its last writes queued.
      const drain = await start([BIN, '--config', config, '--db', server.url, '--quiet', 'worker', '--drain']).done;
      expect(drain.code, drain.stderr).toBe(0);
      await expectComplete();
    } finally {
      await db.close();
      await server.drop();
    }
  });
});
