import { describe, expect, it } from 'vitest';
import { sustainedLow } from './sustained-low.ts';

/** low-use's limit: 10 L over the window. */
describe('sustainedLow', () => {
  it('is true when every bucket is known and the total is below the limit', () => {
    expect(sustainedLow([1, 2, 3, 3.5], 10)).toEqual({ state: 'true', totalLiters: 9.5 });
  });

  it('is true for a window with no use at all', () => {
    expect(sustainedLow(new Array<number>(24).fill(0), 10)).toEqual({ state: 'true', totalLiters: 0 });
  });

  it('is false when the total reaches the limit exactly', () => {
    expect(sustainedLow([4, 6], 10)).toEqual({ state: 'false', totalLiters: 10 });
  });

  it('adds decimal liters exactly: 4 × 0.1 L + 16 × 0.6 L is 10 L, not below it', () => {
    expect(
      sustainedLow([...new Array<number>(4).fill(0.1), ...new Array<number>(16).fill(0.6)], 10).state,
    ).toBe('false');
  });

  it('cannot tell when a bucket is unknown and the known total is below the limit', () => {
    expect(sustainedLow([0, null, 0], 10)).toEqual({ state: 'unknown', totalLiters: 0 });
  });

  it('is false despite unknown buckets once the known buckets alone reach the limit', () => {
    expect(sustainedLow([null, 12, null], 10)).toEqual({ state: 'false', totalLiters: 12 });
  });

  it('cannot tell when every bucket is unknown', () => {
    expect(sustainedLow([null, null], 10).state).toBe('unknown');
  });

  it('uses the limit it is given', () => {
    expect(sustainedLow([1, 1], 2).state).toBe('false');
    expect(sustainedLow([1, 0.5], 2).state).toBe('true');
  });
});
