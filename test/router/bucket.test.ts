import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import murmurhash3js from 'murmurhash3js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ReembedError } from '../../src/errors.js';
import { bucket, inCanary, normalizedValue } from '../../src/router/bucket.js';

const MIGRATION = 'mig-2024-01';
const subjects = (n: number): string[] => Array.from({ length: n }, (_, i) => `user-${i}`);

describe('bucket (hand-checked)', () => {
  it('the hash is MurmurHash3 x86_32 (reference vectors)', () => {
    expect(murmurhash3js.x86.hash32('hello', 0)).toBe(0x248bfa47);
    expect(murmurhash3js.x86.hash32('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
    expect(murmurhash3js.x86.hash32('', 1)).toBe(0x514e28b7);
  });

  it('buckets are murmur3("<migration>:<subject>") % 100 + 1, pinned from the library', () => {
    expect(bucket(MIGRATION, 'user-1')).toBe(13); // hash 862210412
    expect(bucket(MIGRATION, 'user-2')).toBe(40); // hash 1921631739
    expect(bucket(MIGRATION, 'tenant-42')).toBe(46); // hash 3069423245
    expect(normalizedValue('122', 'AB12A')).toBe(23);
    expect(normalizedValue('155', 'AB12A')).toBe(100);
    // Unleash's variant seed and a non-100 normalizer: 913762203 % 1000 + 1.
    expect(normalizedValue('user-1', MIGRATION, 1000, 86028157)).toBe(204);
    // With normalizer 2^32 the value is the raw hash + 1.
    expect(normalizedValue('user-1', MIGRATION, 2 ** 32)).toBe(862210412 + 1);
  });

  it('a subject is in the canary exactly when bucket <= percent', () => {
    expect(inCanary(MIGRATION, 'user-1', 13)).toBe(true);
    expect(inCanary(MIGRATION, 'user-1', 12)).toBe(false);
    expect(inCanary('AB12A', '155', 99)).toBe(false); // bucket 100: only at 100%
    expect(inCanary('AB12A', '155', 100)).toBe(true);
  });

  it('percent 0 is nobody and 100 is everybody with a subject', () => {
    const ids = subjects(10_000);
    expect(ids.filter((id) => inCanary(MIGRATION, id, 0))).toEqual([]);
    expect(ids.every((id) => inCanary(MIGRATION, id, 100))).toBe(true);
  });

  it('a missing subject goes to the control, even at 100%', () => {
    for (const subject of [undefined, null, '']) {
      expect(bucket(MIGRATION, subject)).toBeUndefined();
      expect(inCanary(MIGRATION, subject, 100)).toBe(false);
    }
  });

  it('non-ASCII subjects hash the low byte of each UTF-16 code unit, as the Unleash Node SDK does', () => {
    expect(bucket(MIGRATION, 'Hellø')).toBe(83);
    expect(bucket(MIGRATION, '用户')).toBe(66);
    expect(bucket(MIGRATION, '😊')).toBe(99);
    // U+7528 U+6237 keep their low bytes 0x28 '(' and 0x37 '7': same hash as "(7".
    expect(normalizedValue('用户', MIGRATION, 2 ** 32)).toBe(normalizedValue('(7', MIGRATION, 2 ** 32));
    // ...which is not the hash of the UTF-8 bytes (what the Go and Rust SDKs compute).
    const utf8AsLatin1 = Buffer.from(`${MIGRATION}:Hellø`, 'utf8').toString('latin1');
    expect(normalizedValue('Hellø', MIGRATION, 2 ** 32) - 1).not.toBe(murmurhash3js.x86.hash32(utf8AsLatin1, 0));
  });

  it('rejects a percent outside 0..100 and a bad normalizer with typed errors', () => {
    for (const percent of [-1, 100.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => inCanary(MIGRATION, 'user-1', percent)).toThrow(
        expect.objectContaining({ code: 'INVALID_ROLLOUT_PERCENT' }),
      );
    }
    expect(() => normalizedValue('user-1', MIGRATION, 0)).toThrow(ReembedError);
    expect(() => normalizedValue('user-1', MIGRATION, 2.5)).toThrow(ReembedError);
  });
});

describe('bucket stickiness across ramps', () => {
  it('raising the percentage never moves a subject back to the control (every step 0..100)', () => {
    for (const id of subjects(2_000)) {
      let wasIn = false;
      for (let percent = 0; percent <= 100; percent++) {
        const isIn = inCanary(MIGRATION, id, percent);
        if (wasIn && !isIn) expect.fail(`${id} left the canary at ${percent}%`);
        wasIn = isIn;
      }
      expect(wasIn).toBe(true);
    }
  });

  it('for 10,000 subjects the canary sets nest (5% ⊆ 25% ⊆ 50% ⊆ 100%) and each share is within ±2 points', () => {
    const ids = subjects(10_000);
    let previous = new Set<string>();
    for (const percent of [5, 25, 50, 100]) {
      const canary = new Set(ids.filter((id) => inCanary(MIGRATION, id, percent)));
      expect([...previous].filter((id) => !canary.has(id))).toEqual([]);
      expect(Math.abs((canary.size / ids.length) * 100 - percent)).toBeLessThanOrEqual(2);
      previous = canary;
    }
  });
});

// ---- Conformance with @unleash/client-specification ----
// Just enough of an Unleash evaluator to run the cases whose outcome the rollout hash decides,
// with the decision made by src (inCanary / normalizedValue). Everything else is filtered with a
// reason and counted, so an upgrade of the fixtures cannot silently make this test run nothing.

const Json = z.record(z.string(), z.unknown());
const VariantDef = z.object({
  name: z.string(),
  weight: z.number(),
  stickiness: z.string().optional(),
  overrides: z.array(z.unknown()).optional(),
});
const StrategyDef = z.object({
  name: z.string(),
  parameters: Json.optional(),
  constraints: z.array(z.unknown()).optional(),
  segments: z.array(z.unknown()).optional(),
  variants: z.array(VariantDef).optional(),
});
const FeatureDef = z.object({
  name: z.string(),
  enabled: z.boolean(),
  strategies: z.array(StrategyDef).optional(),
  variants: z.array(VariantDef).nullish(),
  dependencies: z.array(z.unknown()).optional(),
});
const TestCase = z.object({ description: z.string(), context: Json, toggleName: z.string() });
const SpecFile = z.object({
  // The delta-API specs carry `state.events` instead of features; they are filtered as unknown toggles.
  state: z.object({ features: z.array(FeatureDef).optional() }),
  tests: z.array(TestCase.extend({ expectedResult: z.boolean() })).optional(),
  variantTests: z
    .array(TestCase.extend({ expectedResult: z.object({ name: z.string(), enabled: z.boolean() }) }))
    .optional(),
});
type Feature = z.infer<typeof FeatureDef>;
type Context = Record<string, unknown>;

/** Unleash's variant hashing seed (the strategy seed is 0, the default of normalizedValue). */
const VARIANT_SEED = 86028157;
const RANDOM = Symbol('random');
type Decision<T> = { run: true; value: T } | { run: false; reason: string };
const run = <T>(value: T): Decision<T> => ({ run: true, value });
const skip = (reason: string): Decision<never> => ({ run: false, reason });
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The id Unleash hashes for a stickiness, or RANDOM where Unleash would use a random number. */
function resolveStickiness(stickiness: string, context: Context): string | undefined | typeof RANDOM {
  if (stickiness === 'random') return RANDOM;
  // `||` as in Unleash: an empty userId falls through to sessionId, then to random.
  if (stickiness === 'default') return str(context.userId) || str(context.sessionId) || RANDOM;
  const properties = Json.safeParse(context.properties);
  return str(context[stickiness]) ?? (properties.success ? str(properties.data[stickiness]) : undefined);
}

/** Whether the feature is on, when only rollout strategies (ORed) decide it. */
function evaluateRollout(feature: Feature | undefined, context: Context): Decision<boolean> {
  if (feature === undefined) return skip('unknown toggle');
  if (!feature.enabled) return skip('feature disabled');
  if (feature.dependencies?.length) return skip('dependent feature');
  const strategies = feature.strategies ?? [];
  if (strategies.length === 0) return skip('no strategies');
  let enabled = false;
  for (const strategy of strategies) {
    if (strategy.constraints?.length || strategy.segments?.length) return skip('constraints or segments');
    const p = strategy.parameters ?? {};
    let rollout: { groupId: string; percent: number; stickiness: string };
    if (strategy.name === 'gradualRolloutUserId' || strategy.name === 'gradualRolloutSessionId') {
      const stickiness = strategy.name === 'gradualRolloutUserId' ? 'userId' : 'sessionId';
      rollout = { groupId: str(p.groupId) ?? '', percent: Number(p.percentage), stickiness };
    } else if (strategy.name === 'flexibleRollout') {
      // flexibleRollout's groupId defaults to the toggle name; its stickiness to `default`.
      const groupId = str(p.groupId) || feature.name;
      rollout = { groupId, percent: Number(p.rollout), stickiness: str(p.stickiness) || 'default' };
    } else {
      return skip(`strategy ${strategy.name}`);
    }
    const subject = resolveStickiness(rollout.stickiness, context);
    if (subject === RANDOM) return skip('random stickiness');
    enabled ||= inCanary(rollout.groupId, subject, rollout.percent);
  }
  return run(enabled);
}

/** The feature-level variant Unleash picks: normalizedValue(id, toggle, totalWeight, VARIANT_SEED). */
function evaluateVariant(feature: Feature | undefined, context: Context): Decision<string> {
  if (feature === undefined || !feature.enabled) return skip('unknown or disabled toggle');
  if (feature.dependencies?.length) return skip('dependent feature');
  const strategies = feature.strategies ?? [];
  if (strategies.some((s) => s.variants?.length)) return skip('strategy variants');
  // An enabled feature with no strategies or only unconstrained `default` ones is on for everyone.
  if (!strategies.every((s) => s.name === 'default' && !s.constraints?.length && !s.segments?.length)) {
    const on = evaluateRollout(feature, context);
    if (!on.run) return on;
    if (!on.value) return run('disabled');
  }
  const variants = feature.variants ?? [];
  const totalWeight = variants.reduce((sum, v) => sum + v.weight, 0);
  if (totalWeight <= 0) return skip('no weighted variants');
  if (variants.some((v) => v.overrides?.length)) return skip('variant overrides');
  const subject = resolveStickiness(variants[0]?.stickiness ?? 'default', context);
  if (subject === RANDOM || subject === undefined) return skip('random stickiness');
  const target = normalizedValue(subject, feature.name, totalWeight, VARIANT_SEED);
  let counter = 0;
  const chosen = variants.find((v) => v.weight > 0 && (counter += v.weight) >= target);
  return chosen === undefined ? skip('no variant chosen') : run(chosen.name);
}

interface Case<T> {
  file: string;
  description: string;
  decision: Decision<T>;
  expected: T;
}

function loadCases(): { toggles: Case<boolean>[]; variants: Case<string>[] } {
  const require = createRequire(import.meta.url);
  const indexPath = require.resolve('@unleash/client-specification/specifications/index.json');
  const read = (file: string): unknown => JSON.parse(readFileSync(join(dirname(indexPath), file), 'utf8'));
  const files = z.array(z.string()).parse(read('index.json'));
  const toggles: Case<boolean>[] = [];
  const variants: Case<string>[] = [];
  for (const file of files) {
    const spec = SpecFile.parse(read(file));
    const features = new Map((spec.state.features ?? []).map((f) => [f.name, f]));
    for (const t of spec.tests ?? []) {
      const decision = evaluateRollout(features.get(t.toggleName), t.context);
      toggles.push({ file, description: t.description, decision, expected: t.expectedResult });
    }
    for (const t of spec.variantTests ?? []) {
      const decision = evaluateVariant(features.get(t.toggleName), t.context);
      variants.push({ file, description: t.description, decision, expected: t.expectedResult.name });
    }
  }
  return { toggles, variants };
}

const cases = loadCases();
const ran = <T>(list: Case<T>[]) => list.filter((c) => c.decision.run);

describe('conformance with @unleash/client-specification', () => {
  it('runs every rollout case the hash decides (> 20) and filters the rest with a reason', () => {
    const toggles = ran(cases.toggles);
    expect(toggles.length).toBeGreaterThan(20);
    // Each rollout spec contributes; a renamed file would otherwise drop out unnoticed.
    const files = new Set(toggles.map((c) => c.file));
    for (const prefix of ['03-gradual-rollout-user-id', '04-gradual-rollout-session-id', '10-flexible-rollout']) {
      expect([...files].some((f) => f.startsWith(prefix))).toBe(true);
    }
    expect(ran(cases.variants).length).toBeGreaterThan(10);
  });

  it.each(ran(cases.toggles))('$file: $description', ({ decision, expected }) => {
    expect(decision).toEqual(run(expected));
  });

  it.each(ran(cases.variants))('$file (variant): $description', ({ decision, expected }) => {
    expect(decision).toEqual(run(expected));
  });
});
