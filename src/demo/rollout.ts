import type { Manifest } from '../config/manifest.js';
import type { Database } from '../db/database.js';
import type { Dataset } from '../eval/synthetic.js';
import {
  cutoverMigration,
  rampMigration,
  rollbackMigration,
  shadowMigration,
  type LifecycleContext,
} from '../migration/lifecycle.js';
import { listEvents, type MigrationEvent, type MigrationState } from '../migration/state.js';
import { Router, type ShadowEvent } from '../router/router.js';
import type { Source } from '../source/source.js';

export interface RolloutResult {
  migrationId: string;
  shadow: { compared: number; meanOverlapAt10: number; meanRbo: number; top1Agreement: number };
  canary: Array<{ percent: number; searches: number; servedByCandidate: number; share: number }>;
  cutover: { servedByCandidate: number; searches: number };
  rollback: { servedByControl: number; searches: number };
  history: MigrationEvent[];
}

interface RolloutInput {
  db: Database;
  manifest: Manifest;
  source: Source;
  dataset: Dataset;
  migration: MigrationState;
  step: (message: string) => void;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The serving half of the story: shadow reads with overlap figures, a canary ramped
 * 5 → 25 → 50 → 100 with searches from many subjects (the share the candidate served at each
 * step), cutover, a rollback drill, and the audit history. Searches go through a Router, as
 * an application's would.
 */
export async function rolloutStory(input: RolloutInput): Promise<RolloutResult> {
  const { db, manifest, source, dataset, step } = input;
  const ctx: LifecycleContext = { db, manifest, source, actor: 'demo' };
  const shadows: ShadowEvent[] = [];
  const router = await new Router(db, manifest, source, {
    defaultProfile: input.migration.control,
    shadow: { maxConcurrent: 8, timeoutMs: 5000 },
    onShadow: (e) => shadows.push(e),
  }).start();
  const queries = dataset.queries.map((q) => q.text);
  const searchAll = async (count: number, subjectPrefix: string) => {
    let candidate = 0;
    for (let i = 0; i < count; i++) {
      const res = await router.search(queries[i % queries.length]!, { subject: `${subjectPrefix}-${i}` });
      if (res.profile === input.migration.candidate) candidate++;
    }
    return candidate;
  };
  try {
    let m = await shadowMigration(ctx, input.migration, 1);
    await router.refresh();
    await searchAll(queries.length, 'shadow-user');
    // Shadow reads never hold up a response; wait for the ones still running before reporting.
    for (let i = 0; i < 200 && shadows.length < queries.length; i++) await new Promise((r) => setTimeout(r, 25));
    const compared = shadows.filter((s) => s.comparison);
    const shadow = {
      compared: compared.length,
      meanOverlapAt10: mean(compared.map((s) => s.comparison!.overlap)),
      meanRbo: mean(compared.map((s) => s.comparison!.rbo)),
      top1Agreement: mean(compared.map((s) => (s.comparison!.top1 ? 1 : 0))),
    };
    step(
      `shadow: ${shadow.compared} searches compared, mean overlap@10 ${shadow.meanOverlapAt10.toFixed(3)}, RBO ${shadow.meanRbo.toFixed(3)}, top-1 agreement ${(shadow.top1Agreement * 100).toFixed(1)}%`,
    );
    m = await shadowMigration(ctx, m, 0);
    const canary: RolloutResult['canary'] = [];
    const searches = 200;
    for (const percent of [5, 25, 50, 100]) {
      m = await rampMigration(ctx, m, percent);
      await router.refresh();
      const served = await searchAll(searches, 'user');
      canary.push({ percent, searches, servedByCandidate: served, share: served / searches });
      step(
        `canary ${percent}%: ${served} of ${searches} searches from ${searches} subjects served by ${m.candidate} (${((100 * served) / searches).toFixed(1)}%)`,
      );
    }
    m = await cutoverMigration(ctx, m);
    await router.refresh();
    const cut = await searchAll(100, 'after-cutover');
    step(`cutover: ${cut} of 100 searches served by ${m.candidate}; ${m.control} is still written for a safety period`);
    const rolled = await rollbackMigration(ctx, m, 'demo drill: roll back from cutover');
    await router.refresh();
    const back = 100 - (await searchAll(100, 'after-rollback'));
    step(`rollback drill: ${back} of 100 searches served by ${m.control} right after \`migrate rollback\``);
    const history = await listEvents(db, rolled.id);
    return {
      migrationId: rolled.id,
      shadow,
      canary,
      cutover: { servedByCandidate: cut, searches: 100 },
      rollback: { servedByControl: back, searches: 100 },
      history,
    };
  } finally {
    await router.close();
  }
}
