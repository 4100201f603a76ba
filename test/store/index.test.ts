import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, getProfile } from '../../src/config/manifest.js';
import type { Profile } from '../../src/config/profile.js';
import type { Database } from '../../src/db/database.js';
import { vectorLiteral } from '../../src/db/sql.js';
import {
  buildIndex,
  dropIndex,
  IndexBuildError,
  indexName,
  indexStatus,
  type IndexProgress,
} from '../../src/store/index.js';
import { ensureStore, storeLayout } from '../../src/store/store.js';
import { writeVectors } from '../../src/store/write.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const manifest = buildManifest(
  {
    profiles: {
      cos: { provider: 'hash', dims: 16, metric: 'cosine' },
      l2: { provider: 'hash', dims: 8, metric: 'l2' },
      wide: { provider: 'hash', dims: 2500, metric: 'ip' },
      huge: { provider: 'hash', dims: 4500 },
    },
  },
  null,
);
const profile = (name: string) => getProfile(manifest, name);

/** Deterministic pseudo-random unit vectors. */
function vectors(count: number, dims: number, seed = 1): Float32Array[] {
  let state = seed;
  const next = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Array.from({ length: count }, () => {
    const v = Float32Array.from({ length: dims }, next);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

async function fill(db: Database, p: Profile, count: number): Promise<Float32Array[]> {
  await ensureStore(db, p);
  const vs = vectors(count, p.dims);
  await writeVectors(
    db,
    p,
    vs.map((vector, i) => ({ docId: `d${i}`, vector, contentHash: 'h' })),
  );
  return vs;
}

/** The plan of a top-k query, with sequential scans discouraged so a usable index is chosen. */
async function plan(db: Database, p: Profile, query: Float32Array): Promise<string> {
  const { table, distanceOperator, columnType } = storeLayout(p);
  return db.session(async (conn) => {
    await conn.exec('SET enable_seqscan = off');
    try {
      const { rows } = await conn.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT doc_id FROM ${table} ORDER BY embedding ${distanceOperator} '${vectorLiteral(query)}'::${columnType} LIMIT 5`,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await conn.exec('RESET enable_seqscan');
    }
  });
}

describe.each(BACKENDS)('HNSW index on %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
  });
  afterAll(() => db.close());

  it('builds an index that top-k queries use, and building again is a no-op', async () => {
    const p = profile('cos');
    const vs = await fill(db, p, 300);
    expect(await indexStatus(db, p)).toMatchObject({ exists: false });
    const progress: IndexProgress[] = [];
    const built = await buildIndex(db, p, { onProgress: (s) => progress.push(s), progressIntervalMs: 20 });
    expect(built).toMatchObject({ search: 'hnsw', index: 'emb_cos_hnsw', created: true, replacedInvalid: false });
    expect(built.status).toMatchObject({ exists: true, valid: true, type: 'hnsw' });
    expect(built.status!.sizeBytes).toBeGreaterThan(0);
    expect(await plan(db, p, vs[0]!)).toMatch(/Index Scan using emb_cos_hnsw/);
    // The raised maintenance_work_mem was for the build only.
    const { rows } = await db.query<{ m: string }>(`SELECT current_setting('maintenance_work_mem') AS m`);
    expect(rows[0]!.m).not.toBe('512MB');

    const again = await buildIndex(db, p);
    expect(again).toMatchObject({ created: false, index: 'emb_cos_hnsw', status: { valid: true } });
  });

  it('uses the operator class of the metric, and halfvec over 2,000 dims', async () => {
    for (const name of ['l2', 'wide']) {
      const p = profile(name);
      const vs = await fill(db, p, 40);
      expect(await buildIndex(db, p, { maintenanceWorkMem: '64MB' })).toMatchObject({ created: true });
      const { rows } = await db.query<{ def: string }>(`SELECT pg_get_indexdef(to_regclass($1)) AS def`, [
        `reembed.${indexName(p)}`,
      ]);
      expect(rows[0]!.def).toContain(`USING hnsw (embedding ${storeLayout(p).opclass})`);
      expect(await plan(db, p, vs[1]!)).toMatch(new RegExp(`Index Scan using ${indexName(p)}`));
    }
  });

  it('says search is exact over 4,000 dims and builds nothing', async () => {
    const p = profile('huge');
    await fill(db, p, 3);
    expect(await buildIndex(db, p)).toMatchObject({ search: 'exact', index: null, created: false });
    expect(await indexStatus(db, p)).toMatchObject({ exists: false });
  });

  it('drops and rebuilds an INVALID index left by a failed build', async () => {
    const p = profile('cos');
    await dropIndex(db, p);
    if (backend === 'postgres') {
      // A real failed concurrent build: a unique index over duplicate values leaves an INVALID index.
      await expect(
        db.exec(`CREATE UNIQUE INDEX CONCURRENTLY ${indexName(p)} ON ${storeLayout(p).table} (content_hash)`),
      ).rejects.toThrow(/could not create unique index/);
    } else {
      // PGlite builds in a transaction, so a failure leaves nothing; mark one INVALID in the catalog.
      await db.exec(`CREATE INDEX ${indexName(p)} ON ${storeLayout(p).table} (content_hash)`);
      await db.exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'reembed.${indexName(p)}'::regclass`);
    }
    expect(await indexStatus(db, p)).toMatchObject({ exists: true, valid: false, type: 'btree' });
    const rebuilt = await buildIndex(db, p);
    expect(rebuilt).toMatchObject({ created: true, replacedInvalid: true, status: { valid: true, type: 'hnsw' } });
  });

  it('dropIndex removes the index and reports whether there was one', async () => {
    const p = profile('l2');
    expect(await dropIndex(db, p)).toBe(true);
    expect(await dropIndex(db, p)).toBe(false);
    expect(await indexStatus(db, p)).toMatchObject({ exists: false, sizeBytes: 0 });
  });

  it('reports build progress from pg_stat_progress_create_index on a server (PGlite has no second connection)', async () => {
    const p = getProfile(buildManifest({ profiles: { prog: { provider: 'hash', dims: 64 } } }, null), 'prog');
    await ensureStore(db, p);
    // Random vectors are the slow case for HNSW: enough rows for a build of a second or so.
    await db.query(
      `INSERT INTO ${storeLayout(p).table} (doc_id, embedding, content_hash, fingerprint)
       SELECT g::text, (SELECT array_agg(random()::real) FROM generate_series(1, 64) WHERE g > 0)::vector, 'h', $1
       FROM generate_series(1, 4000) g`,
      [p.fingerprint],
    );
    const progress: IndexProgress[] = [];
    await buildIndex(db, p, { onProgress: (s) => progress.push(s), progressIntervalMs: 20 });
    if (backend === 'pglite') {
      expect(progress).toEqual([]);
      return;
    }
    expect(progress.length).toBeGreaterThan(0);
    const loading = progress.find((s) => s.phase === 'building index: loading tuples');
    expect(loading, JSON.stringify(progress.slice(0, 3))).toBeDefined();
    expect(loading!.blocksTotal).toBeGreaterThan(0);
    expect(loading!.blocksDone).toBeLessThanOrEqual(loading!.blocksTotal);
  });

  it('refuses a malformed maintenance_work_mem before doing anything', async () => {
    const p = profile('l2');
    await expect(buildIndex(db, p, { maintenanceWorkMem: "1GB'; DROP" })).rejects.toThrow(/is not a size like 512MB/);
    // Well-formed but beyond PostgreSQL's maximum: the server refuses it, and the failure is typed.
    await expect(buildIndex(db, p, { maintenanceWorkMem: '3TB' })).rejects.toBeInstanceOf(IndexBuildError);
    expect(await indexStatus(db, p)).toMatchObject({ exists: false });
  });
});
