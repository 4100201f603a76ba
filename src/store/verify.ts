import type { Profile } from '../config/profile.js';
import type { Queryable } from '../db/database.js';
import { ReembedError } from '../errors.js';
import { queuedWithinSql } from '../source/capture.js';
import { profileHashSql } from '../source/render.js';
import type { Source } from '../source/source.js';
import { indexStatus, type IndexStatus } from './index.js';
import type { ListImbalance } from './index-ivfflat.js';
import { registeredFingerprint } from './registry.js';
import { FingerprintMismatchError, storeLayout } from './store.js';

export const VERIFY_CHECKS = [
  'stale',
  'missing',
  'orphans',
  'wrong_dims',
  'non_finite',
  'zero_vectors',
  'not_normalized',
  'foreign_fingerprint',
  'invalid_index',
] as const;
export type VerifyCheckName = (typeof VERIFY_CHECKS)[number];

export interface VerifyCheck {
  name: VerifyCheckName;
  description: string;
  ok: boolean;
  count: number;
  /**
   * stale, missing and orphans only: of `count`, the rows a live change queued within
   * `maxQueueLagMs` accounts for (a worker is on its way). They do not fail the check.
   */
  inFlight?: number;
  /** Up to `exampleLimit` ids (or the index name), in id order: failing rows first, else those in flight. */
  examples: string[];
}

export interface VerifyReport {
  profile: string;
  fingerprint: string;
  sourceTable: string;
  storeTable: string;
  sourceRows: number;
  storeRows: number;
  currentRows: number;
  /** current store rows / source rows; 1 for an empty source. */
  coverage: number;
  normTolerance: number | null;
  /** The index; `lists` is added by the facade's verify for an IVFFlat index (store/index.ts describeIndex). */
  index: (IndexStatus & { lists?: ListImbalance | null; rebuildPending?: boolean }) | { search: 'exact' };
  checks: VerifyCheck[];
  /** Rows not current that live changes queued within `maxQueueLagMs` account for (not failures). */
  inFlight: number;
  maxQueueLagMs: number;
  ok: boolean;
  seconds: number;
}

export interface VerifyOptions {
  /** Largest accepted |norm - 1| of a normalizing profile; the default depends on the column type. */
  normTolerance?: number;
  exampleLimit?: number;
  /**
   * A stale, missing or orphaned row whose change was queued less than this long ago is "in
   * flight", not a failure (default 30 s, as rollout.max_queue_lag); 0 counts every one as a failure.
   */
  maxQueueLagMs?: number;
}

export const DEFAULT_VERIFY_QUEUE_LAG_MS = 30_000;

/**
 * Default norm tolerances. A unit vector stored as float4 keeps each element within a relative
 * 2^-24 (6e-8), and the norm of the stored vector moves by at most that much; 1e-5 leaves room
 * for producers that normalize in float32 arithmetic (their rounding grows about sqrt(dims) *
 * 6e-8, under 1e-5 up to 16,000 dims) while still catching any vector that was not normalized.
 * halfvec keeps only 11 significant bits (relative 2^-11, 4.9e-4), so it needs 1e-3.
 */
export const DEFAULT_NORM_TOLERANCE = { vector: 1e-5, halfvec: 1e-3 } as const;

export class StoreMissingError extends ReembedError {
  constructor(profile: string) {
    super(
      'STORE_MISSING',
      `profile ${profile} has no store yet: nothing has been embedded for it (run \`reembed backfill --profile ${profile}\`, or \`reembed migrate plan --to ${profile}\` to move to it)`,
      {
        details: { profile },
      },
    );
  }
}

/** Collects query parameters and hands out their $n placeholders (values are never spliced). */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/**
 * doc_id as the source's id type, or NULL when it is not a valid value of that type. A plain
 * castId() would make the whole verify fail on one malformed doc_id; here it counts as an orphan.
 * CASE evaluates its branches lazily, so the cast runs only on text that passed the checks.
 */
function safeSourceId(source: Source, expr: string): string {
  switch (source.idType) {
    case 'text':
      return expr;
    case 'uuid':
      return `(CASE WHEN ${expr} ~* '^\\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\\}?$' THEN (${expr})::uuid END)`;
    case 'integer':
    case 'bigint': {
      const [min, max] =
        source.idType === 'integer' ? ['-2147483648', '2147483647'] : ['-9223372036854775808', '9223372036854775807'];
      return `(CASE WHEN ${expr} ~ '^[+-]?[0-9]{1,19}$' AND (${expr})::numeric BETWEEN ${min} AND ${max} THEN (${expr})::${source.idType} END)`;
    }
  }
}

interface StoreCheck {
  name: VerifyCheckName;
  description: string;
  where: (p: Params) => string;
}

/**
 * Verifies a profile's store against its source, every figure counted in SQL (an index leaves
 * rows out, so nothing is inferred from one): one pass over the store for the per-row checks,
 * one over the source for missing rows, then a LIMITed query of example ids per failing check.
 */
export async function verifyStore(
  conn: Queryable,
  source: Source,
  profile: Profile,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const started = performance.now();
  const layout = storeLayout(profile);
  await requireStore(conn, profile);
  const limit = options.exampleLimit ?? 5;
  const tolerance = profile.normalize ? (options.normTolerance ?? DEFAULT_NORM_TOLERANCE[layout.columnType]) : null;
  const hash = profileHashSql({ ...profile, template: profile.template ?? source.template }, 's');
  const from = `${layout.table} AS e LEFT JOIN ${source.table} AS s ON s.${source.id} = ${safeSourceId(source, 'e.doc_id')}`;
  const norm = layout.columnType === 'vector' ? 'vector_norm(e.embedding)' : 'l2_norm(e.embedding)';
  const matched = `s.${source.id} IS NOT NULL`;

  const storeChecks: StoreCheck[] = [
    {
      name: 'stale',
      description: 'content hash differs from the source row',
      where: () => `${matched} AND e.content_hash <> ${hash}`,
    },
    { name: 'orphans', description: 'store rows whose document is not in the source', where: () => `NOT (${matched})` },
    {
      name: 'wrong_dims',
      description: `vectors without ${profile.dims} dimensions`,
      where: (p) => `vector_dims(e.embedding) <> ${p.add(profile.dims, 'integer')}`,
    },
    // pgvector refuses NaN and infinity on input, so this guards against other writers only.
    {
      name: 'non_finite',
      description: 'vectors with NaN or infinite values',
      where: () => `${norm} IN ('NaN'::float8, 'Infinity'::float8)`,
    },
    { name: 'zero_vectors', description: 'all-zero vectors', where: () => `${norm} = 0` },
    {
      name: 'not_normalized',
      description: `vectors whose norm is not within ${tolerance ?? '-'} of 1 (the profile normalizes)`,
      where: (p) =>
        tolerance === null
          ? 'false'
          : `${norm} > 0 AND ${norm} < 'Infinity'::float8 AND abs(${norm} - 1) > ${p.add(tolerance, 'float8')}`,
    },
    {
      name: 'foreign_fingerprint',
      description: 'rows written under another profile fingerprint',
      where: (p) => `e.fingerprint <> ${p.add(profile.fingerprint, 'text')}`,
    },
  ];

  const counts = new Params();
  const filters = storeChecks.map((c) => `count(*) FILTER (WHERE ${c.where(counts)}) AS ${c.name}`);
  const { rows: storeRows } = await conn.query<Record<string, string | number>>(
    `SELECT count(*) AS store_rows, count(*) FILTER (WHERE ${matched} AND e.content_hash = ${hash}) AS current_rows,
       ${filters.join(',\n       ')}
     FROM ${from}`,
    counts.values,
  );
  // Probe the store's primary key with the source id as text (doc_id holds exactly that
  // text). Casting doc_id instead would hide the key and scan the store once per source row.
  const missingWhere = `NOT EXISTS (SELECT 1 FROM ${layout.table} AS e WHERE e.doc_id = s.${source.id}::text)`;
  const { rows: sourceRows } = await conn.query<{ source_rows: string | number; missing: string | number }>(
    `SELECT count(*) AS source_rows, count(*) FILTER (WHERE ${missingWhere}) AS missing FROM ${source.table} AS s`,
  );
  const totals = storeRows[0]!;
  const sourceCount = Number(sourceRows[0]!.source_rows);

  const examples = async (count: number, sql: (p: Params) => string): Promise<string[]> => {
    if (count === 0) return [];
    const p = new Params();
    const text = sql(p);
    const { rows } = await conn.query<{ id: string }>(`${text} LIMIT ${p.add(limit, 'integer')}`, p.values);
    return rows.map((r) => r.id);
  };

  // A row that is not current because a live change is queued and young is in flight, not wrong.
  const maxQueueLagMs = options.maxQueueLagMs ?? DEFAULT_VERIFY_QUEUE_LAG_MS;
  const queued = (p: Params, docId: string) =>
    queuedWithinSql(p.add(profile.name, 'text'), docId, p.add(maxQueueLagMs, 'float8'));
  const inFlightOf = async (count: number, sql: (p: Params) => string): Promise<number> => {
    if (count === 0 || maxQueueLagMs <= 0) return 0;
    const p = new Params();
    const { rows } = await conn.query<{ n: string | number }>(sql(p), p.values);
    return Number(rows[0]!.n);
  };
  /** A check whose rows may be in flight (`id` over `rows`): examples of the failing rows first. */
  const lagJudged = async (
    name: VerifyCheckName,
    description: string,
    count: number,
    rows: { from: string; id: string; order: string },
    where: (p: Params) => string,
  ): Promise<VerifyCheck> => {
    const inFlight = await inFlightOf(
      count,
      (p) => `SELECT count(*) AS n FROM ${rows.from} WHERE ${where(p)} AND ${queued(p, rows.id)}`,
    );
    const failing = count - inFlight;
    const onlyFailing = failing > 0 && inFlight > 0;
    return {
      name,
      description,
      ok: failing === 0,
      count,
      inFlight,
      examples: await examples(
        count,
        (p) =>
          `SELECT ${rows.id} AS id FROM ${rows.from} WHERE ${where(p)}${onlyFailing ? ` AND NOT ${queued(p, rows.id)}` : ''} ORDER BY ${rows.order}`,
      ),
    };
  };

  const checks: VerifyCheck[] = [];
  for (const check of storeChecks) {
    const count = Number(totals[check.name]);
    if (check.name === 'stale' || check.name === 'orphans') {
      checks.push(
        await lagJudged(check.name, check.description, count, { from, id: 'e.doc_id', order: 'e.doc_id' }, check.where),
      );
      continue;
    }
    checks.push({
      name: check.name,
      description: check.description,
      ok: count === 0,
      count,
      examples: await examples(
        count,
        (p) => `SELECT e.doc_id AS id FROM ${from} WHERE ${check.where(p)} ORDER BY e.doc_id`,
      ),
    });
  }
  const missing = Number(sourceRows[0]!.missing);
  checks.splice(
    1,
    0,
    await lagJudged(
      'missing',
      'source rows without a store row',
      missing,
      { from: `${source.table} AS s`, id: `s.${source.id}::text`, order: `s.${source.id}` },
      () => missingWhere,
    ),
  );
  const index = layout.index === 'exact' ? ({ search: 'exact' } as const) : await indexStatus(conn, profile);
  const invalidIndex = 'exists' in index && index.exists && !index.valid;
  checks.push({
    name: 'invalid_index',
    description: 'the index is INVALID (a failed concurrent build); rebuild it',
    ok: !invalidIndex,
    count: invalidIndex ? 1 : 0,
    examples: invalidIndex ? [index.name] : [],
  });

  const currentRows = Number(totals.current_rows);
  return {
    profile: profile.name,
    fingerprint: profile.fingerprint,
    sourceTable: source.table,
    storeTable: layout.table,
    sourceRows: sourceCount,
    storeRows: Number(totals.store_rows),
    currentRows,
    coverage: sourceCount === 0 ? 1 : currentRows / sourceCount,
    normTolerance: tolerance,
    index,
    checks,
    inFlight: checks.reduce((a, c) => a + (c.inFlight ?? 0), 0),
    maxQueueLagMs,
    ok: checks.every((c) => c.ok),
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The store must exist, and belong to the manifest's version of the profile: StoreMissingError,
 * else FingerprintMismatchError. (Verify, the router's first search of a profile, strict mode.)
 */
export async function requireStore(conn: Queryable, profile: Profile): Promise<void> {
  const row = await registeredFingerprint(conn, profile.name);
  if (!row || !row.present) throw new StoreMissingError(profile.name);
  if (row.fingerprint !== profile.fingerprint)
    throw new FingerprintMismatchError(profile.name, row.fingerprint, profile.fingerprint);
}
