/**
 * Canary targeting (issue 15 item 2): a named segment gets the candidate before the
 * percentage, a deny-list never gets it in canary, and both are stored in the migration row
 * and audited.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { backfillPlanner } from '../../src/backfill/planner.js';
import { parseRollout } from '../../src/config/rollout.js';
import type { Database } from '../../src/db/database.js';
import { ConfigError } from '../../src/errors.js';
import {
  planMigration,
  rampMigration,
  shadowMigration,
  startMigration,
  type LifecycleContext,
} from '../../src/migration/lifecycle.js';
import { getMigration, listEvents, type MigrationState } from '../../src/migration/state.js';
import { NO_TARGETING, matchesRule, targeted, type Targeting } from '../../src/migration/targeting.js';
import { inCanary } from '../../src/router/bucket.js';
import { Router } from '../../src/router/router.js';
import { routeFor } from '../../src/router/routing.js';
import { articlesManifest, articlesSource, createArticles, getProfile } from '../backfill/helpers.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const ROLLOUT = {
  segments: [
    { name: 'internal', subjects: ['alice@corp', 'bob@corp'], prefixes: ['staff-'] },
    { name: 'beta', prefixes: ['beta-'] },
  ],
  deny: { subjects: ['vip-1'], prefixes: ['staff-blocked-'] },
};

describe('targeting rules', () => {
  const t: Targeting = {
    segments: [{ name: 'internal', subjects: ['alice'], prefixes: ['staff-'] }],
    deny: { subjects: ['carol'], prefixes: ['staff-blocked-'] },
  };

  it('matches subjects by value and by prefix, case-sensitively; an empty subject never', () => {
    expect(matchesRule(t.segments[0]!, 'alice')).toBe(true);
    expect(matchesRule(t.segments[0]!, 'Alice')).toBe(false);
    expect(matchesRule(t.segments[0]!, 'staff-7')).toBe(true);
    expect(matchesRule(t.segments[0]!, 'xstaff-7')).toBe(false);
    expect(matchesRule(t.segments[0]!, '')).toBe(false);
    expect(matchesRule(t.segments[0]!, null)).toBe(false);
  });

  it('serves a segment whatever its bucket, and never a denied subject, even in a segment or a bucket', () => {
    expect(targeted(t, 'alice', () => false)).toBe(true);
    expect(targeted(t, 'dave', () => false)).toBe(false);
    expect(targeted(t, 'dave', () => true)).toBe(true);
    expect(targeted(t, 'carol', () => true)).toBe(false);
    expect(targeted(t, 'staff-blocked-1', () => true)).toBe(false);
    expect(targeted(NO_TARGETING, 'alice', () => false)).toBe(false);
  });

  it('refuses a segment without subjects or prefixes, duplicate names and an empty deny-list', () => {
    const problems: string[] = [];
    parseRollout(
      {
        segments: [
          { name: 'a', subjects: ['x'] },
          { name: 'a', prefixes: ['y'] },
          { name: 'empty', subjects: [] },
        ],
        deny: {},
      },
      problems,
    );
    expect(problems.join('\n')).toMatch(/rollout\.segments\.2: a segment needs subjects or prefixes/);
    expect(problems.join('\n')).toMatch(/segment names must be unique/);
    expect(problems.join('\n')).toMatch(/rollout\.deny: deny needs subjects or prefixes/);
  });
});

describe.each(BACKENDS)('canary targeting on %s', (backend) => {
  let db: Database;
  let ctx: LifecycleContext;
  let m: MigrationState;
  beforeEach(async () => {
    db = await openTestDatabase(backend);
    await createArticles(db, 60);
    const manifest = articlesManifest({}, { rollout: ROLLOUT });
    ctx = { db, manifest, source: await articlesSource(db, manifest), actor: 'test', backfill: backfillPlanner };
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'small')] });
    m = await startMigration(ctx, (await planMigration(ctx, 'small', 'big')).migration);
    await runBackfill(db, { source: ctx.source, profiles: [getProfile(manifest, 'big')] });
    m = await shadowMigration(ctx, m, 0);
  });
  afterEach(() => db.close());

  it('serves a segment first at 0%, keeps it as the percentage grows, denies the deny-list, and audits it', async () => {
    m = await rampMigration(ctx, m, null, { segment: 'internal' });
    expect(m).toMatchObject({ phase: 'canary', percent: 0 });
    expect(m.targeting.segments.map((s) => s.name)).toEqual(['internal']);
    expect(m.targeting.deny).toEqual({ subjects: ['vip-1'], prefixes: ['staff-blocked-'] });
    // Stored in the row: every router reads the same rules.
    expect((await getMigration(db, m.id)).targeting).toEqual(m.targeting);

    const router = await new Router(db, ctx.manifest, ctx.source, {
      defaultProfile: 'small',
      hotDocuments: false,
      metrics: false,
    }).start();
    try {
      const served = async (subject: string) => (await router.search('article', { subject, k: 1 })).profile;
      expect(await served('alice@corp')).toBe('big');
      expect(await served('staff-42')).toBe('big');
      expect(await served('staff-blocked-3')).toBe('small');
      expect(await served('someone-else')).toBe('small');
      expect(await served('beta-1')).toBe('small');

      // Repeating the step changes nothing and records nothing.
      const events = (await listEvents(db, m.id)).length;
      expect(await rampMigration(ctx, m, null, { segment: 'internal' })).toBe(m);
      expect((await listEvents(db, m.id)).length).toBe(events);

      // The percentage grows; the segment stays on; the deny-list holds even in a bucket.
      m = await rampMigration(ctx, m, 60);
      await router.refresh();
      const subjects = Array.from({ length: 300 }, (_, i) => `user-${i}`);
      const inBucket = subjects.filter((s) => inCanary(m.id, s, 60));
      const outside = subjects.filter((s) => !inCanary(m.id, s, 60));
      expect(await served(inBucket[0]!)).toBe('big');
      expect(await served(outside[0]!)).toBe('small');
      expect(await served('staff-1')).toBe('big');
      // A denied subject in the percentage's buckets (and in the internal segment's prefix) still gets the control.
      const deniedInBucket = Array.from({ length: 100 }, (_, i) => `staff-blocked-${i}`).find((s) =>
        inCanary(m.id, s, 60),
      )!;
      expect(deniedInBucket).toBeDefined();
      expect(await served(deniedInBucket)).toBe('small');
      expect(routeFor(m, deniedInBucket, 'small')).toMatchObject({ serving: 'small', candidateChosen: false });
      expect(await served('vip-1')).toBe('small');
    } finally {
      await router.close();
    }

    const history = await listEvents(db, m.id);
    const segmentStep = history.find((e) => e.action === 'ramp' && e.toPercent === 0)!;
    expect(segmentStep.details).toMatchObject({
      segment: { name: 'internal', who: '2 subjects, prefixes staff-' },
      segments: ['internal'],
      deny: '1 subject, prefixes staff-blocked-',
    });
    expect(history.at(-1)).toMatchObject({ action: 'ramp', toPercent: 60, details: { segments: ['internal'] } });
    // A ramp from a process whose manifest has no deny-list keeps the migration's.
    const bare = articlesManifest({}, { rollout: { segments: ROLLOUT.segments } });
    m = await rampMigration({ ...ctx, manifest: bare }, m, 80);
    expect(m.targeting.deny).toEqual({ subjects: ['vip-1'], prefixes: ['staff-blocked-'] });
  });

  it('refuses an unknown segment, naming the known ones, and a ramp with neither percentage nor segment', async () => {
    await expect(rampMigration(ctx, m, null, { segment: 'nope' })).rejects.toThrow(
      /no segment "nope" in rollout\.segments of the manifest \(it has: internal, beta\)/,
    );
    await expect(rampMigration(ctx, m, null)).rejects.toBeInstanceOf(ConfigError);
    expect((await getMigration(db, m.id)).phase).toBe('shadow');
  });
});
