import { describe, expect, it } from 'vitest';
import { mapLimited } from './map-limited.ts';

describe('mapLimited', () => {
  it('keeps at most `limit` calls in flight and returns results in item order', async () => {
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const results = await mapLimited([5, 1, 4, 2, 3, 0], 2, async (x, i) => {
      order.push(i);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return x * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30, 0]);
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('settles every call, then rejects with the first failure', async () => {
    const done: number[] = [];
    const run = mapLimited([1, 2, 3], 3, async (x) => {
      if (x === 2) throw new Error('two failed');
      done.push(x);
      return x;
    });
    await expect(run).rejects.toThrow('two failed');
    expect(done).toEqual([1, 3]);
  });
});
