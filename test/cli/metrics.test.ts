import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { ServingMetricsRecorder, SERVING_METRICS_TABLE } from '../../src/telemetry/serving-metrics.js';
import { BACKENDS, createServerDatabase } from '../helpers/databases.js';
import { runCli } from '../helpers/cli.js';

const MANIFEST = `profiles:
  old: { provider: hash, dims: 32 }
  new: { provider: hash, dims: 64 }
environments:
  development: { profile: old }
`;

/** Two instances' traffic now, and one window written three days ago. */
async function traffic(db: Database): Promise<void> {
  const a = new ServingMetricsRecorder(db, { instance: 'a' });
  const b = new ServingMetricsRecorder(db, { instance: 'b' });
  for (let i = 0; i < 95; i++) a.request('old', { ok: true, latencyMs: 4 });
  for (let i = 0; i < 5; i++) b.request('old', { ok: false, fallback: false });
  for (let i = 0; i < 10; i++) b.request('new', { ok: true, latencyMs: 40 });
  for (let i = 0; i < 3; i++) b.request('new', { ok: false, fallback: true, reason: { kind: 'timeout' } });
  b.request('new', { ok: false, fallback: true, reason: { kind: 'breaker_open' } });
  b.shadow('new', { overlap: 0.6, rbo: 0.5 });
  for (let i = 0; i < 2; i++) b.shadowDropped('new', 'queue_full');
  a.shadowDropped('new', 'too_old');
  a.shadowDropped('new', 'queue_full');
  const aged = new ServingMetricsRecorder(db, { instance: 'aged' });
  aged.request('old', { ok: true, latencyMs: 4 });
  await Promise.all([a.close(), b.close(), aged.close()]);
  await db.query(
    `UPDATE ${SERVING_METRICS_TABLE} SET recorded_at = clock_timestamp() - interval '3 days' WHERE instance = 'aged'`,
  );
}

describe.each(BACKENDS)('reembed metrics on %s', (backend) => {
  it('shows every instance’s traffic per profile, prunes by age (dry run first), and refuses a bad duration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-metrics-'));
    writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    const target = server?.url ?? join(dir, '.reembed');
    try {
      const db = await openDatabase(target, { migrations });
      await traffic(db);
      await db.close();
      const cli = (...args: string[]) => runCli(['--db', target, ...args], { cwd: dir });

      const shown = await cli('metrics', 'show', '--since', '1h', '--json');
      expect(shown.code, shown.stderr).toBe(0);
      const { profiles } = JSON.parse(shown.stdout) as {
        profiles: Array<{
          profile: string;
          instances: number;
          requests: number;
          errors: number;
          errorRate: number;
          requestsPerSecond: number;
          shadow: { compared: number; overlap: number; dropped: number; droppedReasons: Record<string, number> };
        }>;
      };
      expect(profiles.map((p) => p.profile)).toEqual(['new', 'old']);
      const old = profiles.find((p) => p.profile === 'old')!;
      // The aged window is outside the hour.
      expect(old).toMatchObject({ instances: 2, requests: 100, errors: 5, errorRate: 0.05 });
      // Over the hour up to now on the database clock: 100 / 3600, within the clock's drift during the call.
      expect(old.requestsPerSecond).toBeCloseTo(100 / 3600, 5);
      // Shadow samples dropped under load, summed over both instances' windows, by reason.
      expect(profiles.find((p) => p.profile === 'new')!.shadow).toMatchObject({
        compared: 1,
        overlap: 0.6,
        dropped: 4,
        droppedReasons: { queue_full: 3, too_old: 1 },
      });
      expect(profiles.find((p) => p.profile === 'old')!.shadow).toMatchObject({ dropped: 0, droppedReasons: {} });
      expect(profiles.find((p) => p.profile === 'new')).toMatchObject({
        fallbacks: 4,
        fallbackReasons: { timeout: 3, breaker_open: 1 },
      });
      const text = await cli('metrics', 'show', '--since', '1h', '--profile', 'new');
      expect(text.stdout).toContain('4 (timeout 3, breaker_open 1)');
      expect(text.stdout).toContain('shadow dropped');
      expect(text.stdout).toContain('4 (queue_full 3, too_old 1)');

      const week = await cli('metrics', 'show', '--since', '7d', '--profile', 'old');
      expect(week.code, week.stderr).toBe(0);
      // 101 searches over 7 days: 0.000167 per second.
      expect(week.stdout).toMatch(/^old\s+3\s+3\s+101\s+0\.000167\s+5\s+4\.95%/m);

      const dry = await cli('metrics', 'prune', '--older-than', '1d', '--dry-run', '--json');
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, deleted: 1, skipped: false });
      const pruned = await cli('metrics', 'prune', '--older-than', '1d');
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(pruned.stdout).toMatch(/^deleted 1 serving windows written before /);
      const after = await cli('metrics', 'show', '--since', '7d', '--json');
      expect(JSON.parse(after.stdout).profiles.find((p: { profile: string }) => p.profile === 'old').requests).toBe(
        100,
      );

      const bad = await cli('metrics', 'prune', '--older-than', 'soon');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/not a duration: "soon"/);
    } finally {
      await server?.drop();
    }
  });

  it('says so when no router has written a window in the range', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-metrics-'));
    writeFileSync(join(dir, 'reembed.yaml'), MANIFEST);
    const server = backend === 'postgres' ? await createServerDatabase() : null;
    try {
      const r = await runCli(['--db', server?.url ?? join(dir, '.reembed'), 'metrics', 'show'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^no serving windows written in the last 1h/);
    } finally {
      await server?.drop();
    }
  });
});
