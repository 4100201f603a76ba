import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, getProfile } from '../../src/config/manifest.js';
import { openDatabase } from '../../src/db/open.js';
import { migrations } from '../../src/schema.js';
import { DOCUMENTS_TABLE } from '../../src/source/managed.js';
import { contentHashSql } from '../../src/source/render.js';
import { ensureStore } from '../../src/store/store.js';
import { writeVectors } from '../../src/store/write.js';
import { runCli } from '../helpers/cli.js';

/** Embeds every loaded document into the starter profile's store, in this process (the CLI has exited). */
async function embedAll(dir: string): Promise<void> {
  const profile = getProfile(loadManifest(join(dir, 'reembed.yaml')), 'hash_small');
  const db = await openDatabase(join(dir, '.reembed'), { migrations });
  try {
    await ensureStore(db, profile);
    const { rows } = await db.query<{ id: string; hash: string }>(
      `SELECT d.id, ${contentHashSql(profile.template!, profile.fingerprint, 'd')} AS hash FROM ${DOCUMENTS_TABLE} d`,
    );
    const unit = new Float32Array(profile.dims);
    unit[0] = 1;
    await writeVectors(
      db,
      profile,
      rows.map((r) => ({ docId: r.id, vector: unit, contentHash: r.hash })),
    );
  } finally {
    await db.close();
  }
}

async function sql(dir: string, statement: string): Promise<void> {
  const db = await openDatabase(join(dir, '.reembed'));
  try {
    await db.exec(statement);
  } finally {
    await db.close();
  }
}

describe('reembed verify', () => {
  it('exits 0 on a clean store, 1 on a defect or a missing store, 2 on an unknown profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reembed-cli-verify-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    writeFileSync(
      join(dir, 'docs.jsonl'),
      ['{"id": "a", "text": "alpha"}', '{"id": "b", "text": "beta"}', '{"id": "c", "text": "gamma"}'].join('\n'),
    );
    expect((await runCli(['load', 'docs.jsonl'], { cwd: dir })).code).toBe(0);

    const none = await runCli(['verify', '--profile', 'hash_small'], { cwd: dir });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/profile hash_small has no store yet/);

    await embedAll(dir);
    const clean = await runCli(['verify', '--profile', 'hash_small'], { cwd: dir });
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/source rows 3, store rows 3, current 3, coverage 100\.00%/);
    expect(clean.stdout).toMatch(/verify: ok/);

    await sql(dir, `DELETE FROM ${DOCUMENTS_TABLE} WHERE id = 'b'`);
    // Without --profile, the environment's active profile (hash_small in development).
    const dirty = await runCli(['verify', '--json'], { cwd: dir });
    expect(dirty.code).toBe(1);
    const report = JSON.parse(dirty.stdout);
    expect(report).toMatchObject({ ok: false, profile: 'hash_small', sourceRows: 2, storeRows: 3 });
    expect(report.checks.find((c: { name: string }) => c.name === 'orphans')).toMatchObject({
      ok: false,
      count: 1,
      examples: ['b'],
    });
    const human = await runCli(['verify'], { cwd: dir });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/orphans\s+FAIL\s+1\s+"b"/);
    expect(human.stdout).toMatch(/verify: FAILED \(1 checks\)/);

    // A live change queued for b just now: in flight, not a failure (unless the lag is 0).
    await sql(dir, `INSERT INTO reembed.queue (profile, doc_id) VALUES ('hash_small', 'b')`);
    const flying = await runCli(['verify'], { cwd: dir });
    expect(flying.code, flying.stdout).toBe(0);
    expect(flying.stdout).toMatch(/orphans\s+ok\s+1 \(1 in flight\)\s+"b"/);
    expect(flying.stdout).toMatch(/in flight: 1 rows not current yet, each with a live change queued within 30 s/);
    const strict = await runCli(['verify', '--max-queue-lag', '0'], { cwd: dir });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/orphans\s+FAIL\s+1\s+"b"/);
    await sql(dir, `DELETE FROM reembed.queue`);

    expect((await runCli(['verify', '--profile', 'nope'], { cwd: dir })).code).toBe(2);
    expect((await runCli(['verify', '--norm-tolerance', '-1'], { cwd: dir })).code).toBe(2);
  });
});
