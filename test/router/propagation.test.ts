/**
 * Invariant 5 across processes: three router instances on one PostgreSQL all serve only the
 * control within a second of a rollback, measured over repeated trials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { prepareBackfill, runBackfill } from '../../src/backfill/backfill.js';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import { openDatabase } from '../../src/db/open.js';
import {
  planMigration,
  rampMigration,
  rollbackMigration,
  shadowMigration,
  startMigration,
} from '../../src/migration/lifecycle.js';
import { migrations } from '../../src/schema.js';
import { resolveSource } from '../../src/source/source.js';
import { createServerDatabase } from '../helpers/databases.js';
import { waitFor } from '../helpers/wait.js';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { scaled } from '../helpers/slowdown.js';

const INSTANCE = fileURLToPath(new URL('../fixtures/router-instance.mjs', import.meta.url));
const CONFIG = {
  source: { managed: true },
  profiles: { alpha: { provider: 'hash', dims: 16 }, beta: { provider: 'hash', dims: 32 } },
  environments: { development: { profile: 'alpha' } },
};

interface Seen {
  t: number;
  id: string | null;
  phase: string | null;
  version: number;
  serving: string;
}

function startInstance(config: string, url: string): { child: ChildProcess; seen: Seen[]; ready: Promise<void> } {
  const child = spawn(process.execPath, [INSTANCE, config, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seen: Seen[] = [];
  let markReady: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.ready) markReady();
    else seen.push(msg);
  });
  return { child, seen, ready };
}

describe('rollback propagation on postgres', () => {
  it('three router processes serve only the control within 1 s of a rollback (p99 over trials)', async () => {
    const server = await createServerDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'reembed-prop-'));
    const config = join(dir, 'reembed.yaml');
    writeFileSync(config, JSON.stringify(CONFIG)); // JSON is YAML
    const db = await openDatabase(server.url, { migrations });
    const instances: ReturnType<typeof startInstance>[] = [];
    try {
      const manifest = buildManifest(CONFIG, null);
      const source = await resolveSource(db, manifest.source);
      const ctx = { db, manifest, source, actor: 'test', backfill: backfillPlanner };
      await db.query(
        `INSERT INTO reembed.documents (id, content) SELECT 'd' || i, 'text ' || i FROM generate_series(1, 50) i`,
      );
      for (const name of ['alpha', 'beta']) {
        await prepareBackfill(db, source, getProfile(manifest, name), manifest.profiles);
        await runBackfill(db, { source, profiles: [getProfile(manifest, name)] });
      }
      for (let i = 0; i < 3; i++) instances.push(startInstance(config, server.url));
      await Promise.all(instances.map((i) => i.ready));

      const delays: number[] = [];
      for (let trial = 0; trial < 6; trial++) {
        let m = await startMigration(ctx, (await planMigration(ctx, 'alpha', 'beta')).migration);
        m = await rampMigration(ctx, await shadowMigration(ctx, m, 0), 100);
        const canary = m;
        const served = await waitFor(
          () =>
            instances.every((i) =>
              i.seen.some((s) => s.id === canary.id && s.version === canary.version && s.serving === 'beta'),
            ),
          5000,
        );
        expect(served, 'every instance serves the canary').toBe(true);
        const t0 = Date.now();
        const back = await rollbackMigration(ctx, m, `trial ${trial}`);
        const reached = await waitFor(
          () => instances.every((i) => i.seen.some((s) => s.id === back.id && s.phase === 'rolled_back')),
          5000,
        );
        expect(reached, 'every instance saw the rollback').toBe(true);
        for (const i of instances) {
          const s = i.seen.find((x) => x.id === back.id && x.phase === 'rolled_back')!;
          expect(s.serving).toBe('alpha');
          delays.push(s.t - t0);
        }
      }
      delays.sort((a, b) => a - b);
      const p99 = delays[Math.min(delays.length - 1, Math.ceil(0.99 * delays.length) - 1)]!;
      expect(delays).toHaveLength(18);
      // Invariant 5 (within a second) on an idle machine; a slower CI runner scales it by its
      // REEMBED_TEST_SLOWDOWN like every deadline.
      expect(p99).toBeLessThanOrEqual(scaled(1000));
    } finally {
      for (const i of instances) i.child.kill('SIGTERM');
      await db.close();
      await new Promise((r) => setTimeout(r, 200));
      await server.drop();
    }
  });
});
