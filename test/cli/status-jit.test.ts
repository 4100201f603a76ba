import { describe, expect, it } from 'vitest';
import { describeJit } from '../../src/cli/status.js';
import type { ProfileStatus } from '../../src/reembed.js';

const window = { from: '2026-12-05T00:00:00.000Z', to: '2026-12-05T00:05:00.000Z' };

describe('the status line of just-in-time requests', () => {
  it('says how many wait, how many were embedded per minute and how long they took', () => {
    const p = {
      profile: 'fonts-mm',
      jit: {
        pending: 3,
        oldestPendingSeconds: 42.4,
        completed: 12,
        itemsPerMinute: 2.4,
        timeToEmbedMs: { p50: 850, p95: 2_500, max: 4_000 },
        window,
      },
    } as ProfileStatus;
    expect(describeJit(p)).toBe(
      'just-in-time fonts-mm: 3 waiting (oldest 42 s); 12 embedded in the last 5 min (2.4/min, time to embed p50 850 ms p95 2.5 s max 4.0 s)',
    );
  });

  it('leaves out what it has not seen', () => {
    const p = {
      profile: 'next',
      jit: { pending: 1, oldestPendingSeconds: null, completed: 0, itemsPerMinute: 0, timeToEmbedMs: null, window },
    } as ProfileStatus;
    expect(describeJit(p)).toBe('just-in-time next: 1 waiting; 0 embedded in the last 5 min (0.0/min)');
  });
});
