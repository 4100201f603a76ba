import { describe, expect, it } from 'vitest';
import { testSlowdown } from './slowdown.js';

describe('REEMBED_TEST_SLOWDOWN', () => {
  it('defaults to 1 and reads a factor', () => {
    expect(testSlowdown({})).toBe(1);
    expect(testSlowdown({ REEMBED_TEST_SLOWDOWN: '' })).toBe(1);
    expect(testSlowdown({ REEMBED_TEST_SLOWDOWN: '2.5' })).toBe(2.5);
  });

  it('refuses a factor that would shorten deadlines or is not a number', () => {
    expect(() => testSlowdown({ REEMBED_TEST_SLOWDOWN: '0.5' })).toThrow(/at least 1/);
    expect(() => testSlowdown({ REEMBED_TEST_SLOWDOWN: 'fast' })).toThrow(/"fast"/);
  });
});
