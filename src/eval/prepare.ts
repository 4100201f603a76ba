import { profileFingerprint } from '../config/fingerprint.js';
import { MANAGED_COLUMNS, MANAGED_TEXT_TEMPLATE } from '../config/manifest.js';
import type { Profile } from '../config/profile.js';
import { templateColumns } from '../config/template.js';
import type { Queryable } from '../db/database.js';
import { ConfigError, ReembedError } from '../errors.js';
import { countDocuments } from '../source/managed.js';
import { storeLayout } from '../store/store.js';

/**
 * The profile as an evaluation runs it. The dataset is loaded into the managed source, whose
 * text is the BEIR title, a blank line and the text (`{content}`). A profile whose template
 * reads only managed columns is evaluated unchanged; one written for an attached table (say
 * `{title}\n\n{body}`) is evaluated over `{content}` instead. That changes what it embeds,
 * so its fingerprint is recomputed: the reported fingerprint always names the configuration
 * that produced the figures, never one that was not measured.
 */
export function profileForCorpus(profile: Profile): { profile: Profile; replacedTemplate: string | null } {
  const template = profile.template ?? MANAGED_TEXT_TEMPLATE;
  const managed: readonly string[] = MANAGED_COLUMNS;
  if (!profile.input && templateColumns(template).every((c) => managed.includes(c))) {
    return { profile, replacedTemplate: null };
  }
  // The managed documents have no images: an image input is evaluated on its text alone.
  const textOnly = { ...profile, input: undefined };
  return {
    profile: {
      ...textOnly,
      template: MANAGED_TEXT_TEMPLATE,
      fingerprint: profileFingerprint(textOnly, MANAGED_TEXT_TEMPLATE),
    },
    replacedTemplate: template,
  };
}

/** Profiles are named once each; the first is the control of every comparison it is in. */
export function checkProfileList(profiles: readonly Profile[]): void {
  if (profiles.length === 0) throw new ConfigError('give at least one profile to evaluate (--profiles A,B)');
  const seen = new Set<string>();
  for (const p of profiles) {
    if (seen.has(p.name)) throw new ConfigError(`profile ${p.name} is listed twice`);
    seen.add(p.name);
  }
}

/**
 * An evaluation fills the managed source and the profiles' stores, and searches the whole
 * store: documents or vectors already there would enter the rankings and change the figures.
 * So, like the demo, it runs only on a database without managed documents and without rows in
 * the stores of the profiles it evaluates.
 */
export async function assertEmptyDatabase(
  conn: Queryable,
  target: string,
  profiles: readonly Profile[],
): Promise<void> {
  const refuse = (what: string) =>
    new ReembedError(
      'EVAL_NEEDS_EMPTY_DATABASE',
      `reembed eval loads the dataset into the managed source and needs a database without ${what}, and ${target} has some; ` +
        'give another --db, or leave --db out to use a throwaway in-memory database',
      { exitCode: 2, details: { database: target } },
    );
  if ((await countDocuments(conn)) > 0) throw refuse('managed documents');
  for (const profile of profiles) {
    const { table } = storeLayout(profile);
    const { rows } = await conn.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [table]);
    if (!rows[0]?.exists) continue;
    const { rows: any } = await conn.query<{ found: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${table}) AS found`);
    if (any[0]?.found) throw refuse(`vectors in the store of profile ${profile.name}`);
  }
}
