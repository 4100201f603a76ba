import { describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/database.js';
import { RerankSwitchWatcher, switchedOff } from '../../src/router/rerank-switch.js';

describe('the rerank switch', () => {
  it('is off for a profile when its own row or the row of every profile says off', () => {
    expect(switchedOff([], 'a')).toBe(false);
    expect(switchedOff([{ profile: 'a', state: 'off' }], 'a')).toBe(true);
    expect(switchedOff([{ profile: 'b', state: 'off' }], 'a')).toBe(false);
    expect(switchedOff([{ profile: '*', state: 'off' }], 'a')).toBe(true);
    expect(
      switchedOff(
        [
          { profile: '*', state: 'off' },
          { profile: 'a', state: 'on' },
        ],
        'a',
      ),
    ).toBe(true);
    expect(switchedOff([{ profile: 'a', state: 'on' }], 'a')).toBe(false);
  });

  it('a refresh asked during a read waits for a read that starts after it', async () => {
    let state: 'on' | 'off' = 'on';
    const pending: Array<() => void> = [];
    let reads = 0;
    const db = {
      query: () => {
        reads++;
        const rows = [{ profile: 'p', state, actor: 't', reason: null, updated_at: new Date() }];
        return new Promise((resolve) => pending.push(() => resolve({ rows })));
      },
    } as unknown as Queryable;
    const watcher = new RerankSwitchWatcher(db);
    const first = watcher.refresh();
    // The switch changes while the first read is in flight (it read 'on').
    state = 'off';
    const second = watcher.refresh();
    const third = watcher.refresh();
    expect(reads).toBe(1);
    pending.shift()!();
    await first;
    expect(watcher.off('p')).toBe(false);
    // One more read, shared by both later callers, started after they asked.
    await new Promise((r) => setImmediate(r));
    expect(reads).toBe(2);
    pending.shift()!();
    await Promise.all([second, third]);
    expect(watcher.off('p')).toBe(true);
    expect(reads).toBe(2);
  });

  it('keeps the last rows it read when a read fails', async () => {
    let fail = false;
    const errors: unknown[] = [];
    const db = {
      query: async () => {
        if (fail) throw new Error('database down');
        return { rows: [{ profile: '*', state: 'off', actor: 't', reason: null, updated_at: new Date() }] };
      },
    } as unknown as Queryable;
    const watcher = new RerankSwitchWatcher(db, { onError: (e) => errors.push(e) });
    await watcher.refresh();
    expect(watcher.off('any')).toBe(true);
    fail = true;
    await watcher.refresh();
    expect(errors).toHaveLength(1);
    expect(watcher.off('any')).toBe(true);
  });
});
