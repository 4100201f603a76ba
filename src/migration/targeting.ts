/**
 * Canary targeting: named segments that get the candidate before (and beside) the percentage,
 * and a deny-list that never gets it while the canary lasts. The rules follow Unleash's
 * constraint operators on the subject (the context's userId): `IN` for `subjects` and
 * `STR_STARTS_WITH` for `prefixes`, both case-sensitive. The rules are stored in the migration
 * row (every router reads the same ones, whatever its own manifest says) and each change is an
 * audited transition.
 */

/** Subjects matched by value (`IN`) or by prefix (`STR_STARTS_WITH`). */
export interface SubjectRule {
  subjects: string[];
  prefixes: string[];
}

export interface Segment extends SubjectRule {
  name: string;
}

export interface Targeting {
  /** Segments switched on for the candidate (`migrate ramp --segment NAME`), in the order they were. */
  segments: Segment[];
  /** Never served by the candidate while in canary (rollout.deny). */
  deny: SubjectRule | null;
}

export const NO_TARGETING: Targeting = { segments: [], deny: null };

export function matchesRule(rule: SubjectRule, subject: string | null | undefined): boolean {
  if (subject === undefined || subject === null || subject === '') return false;
  return rule.subjects.includes(subject) || rule.prefixes.some((p) => subject.startsWith(p));
}

/** The first switched-on segment the subject is in, or null. */
export function segmentOf(targeting: Targeting, subject: string | null | undefined): string | null {
  return targeting.segments.find((s) => matchesRule(s, subject))?.name ?? null;
}

export function deniedSubject(targeting: Targeting, subject: string | null | undefined): boolean {
  return targeting.deny !== null && matchesRule(targeting.deny, subject);
}

/** In the canary: not denied, and in a switched-on segment or in the percentage's buckets. */
export function targeted(targeting: Targeting, subject: string | null | undefined, inBuckets: () => boolean): boolean {
  if (deniedSubject(targeting, subject)) return false;
  return segmentOf(targeting, subject) !== null || inBuckets();
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function ruleOf(raw: unknown): SubjectRule {
  const r = (raw ?? {}) as { subjects?: unknown; prefixes?: unknown };
  return { subjects: strings(r.subjects), prefixes: strings(r.prefixes) };
}

/** The migration row's `targeting` jsonb (an object, or text from some drivers). */
export function parseTargeting(raw: unknown): Targeting {
  const value = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { segments?: unknown; deny?: unknown } | null;
  if (!value) return NO_TARGETING;
  const segments = Array.isArray(value.segments)
    ? value.segments.map((s) => ({ name: String((s as { name?: unknown }).name ?? ''), ...ruleOf(s) }))
    : [];
  return { segments, deny: value.deny ? ruleOf(value.deny) : null };
}

/** How a rule reads in the audit log and status: "2 subjects, prefixes staff-, qa-". */
export function describeRule(rule: SubjectRule): string {
  const parts: string[] = [];
  if (rule.subjects.length) parts.push(`${rule.subjects.length} subject${rule.subjects.length === 1 ? '' : 's'}`);
  if (rule.prefixes.length) parts.push(`prefixes ${rule.prefixes.join(', ')}`);
  return parts.join(', ') || 'nobody';
}
