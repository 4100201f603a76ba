import { describe, expect, it } from 'vitest';
import { retryTransient } from '../../src/db/transient.js';

const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' });

describe('retryTransient', () => {
  it('runs the work again after transient errors and returns its result', async () => {
    let calls = 0;
    const retries: number[] = [];
    const result = await retryTransient(
      async () => {
        if (++calls < 3) throw deadlock();
        return 'built';
      },
      { onRetry: (_e, attempt) => retries.push(attempt) },
    );
    expect(result).toBe('built');
    expect(calls).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('throws any other error at once, and a transient one past its budget', async () => {
    let calls = 0;
    await expect(
      retryTransient(async () => {
        calls++;
        throw new Error('syntax error');
      }),
    ).rejects.toThrow('syntax error');
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      retryTransient(
        async () => {
          calls++;
          throw deadlock();
        },
        { budgetMs: 0 },
      ),
    ).rejects.toThrow('deadlock detected');
    expect(calls).toBe(1);
  });
});
