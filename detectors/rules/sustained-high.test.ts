import { describe, expect, it } from 'vitest';
import { sustainedHigh } from './sustained-high.ts';

/** Bars as rules set them: continuous-flow's 1 L per bucket, and a higher one of 60 L. */
describe('sustainedHigh', () => {
  it('is true when every bucket is known and at least the bar', () => {
    expect(sustainedHigh([1, 2.5, 1], 1)).toEqual({ state: 'true', totalLiters: 4.5 });
    expect(sustainedHigh([60, 75], 60)).toEqual({ state: 'true', totalLiters: 135 });
  });

  it('is false when one known bucket is below the bar', () => {
    expect(sustainedHigh([3, 0.99, 3], 1).state).toBe('false');
    expect(sustainedHigh([59.9, 100], 60).state).toBe('false');
  });

  it('compares at milliliter precision (0.29 L reaches a 0.29 L bar)', () => {
    expect(sustainedHigh([0.29, 0.29], 0.29).state).toBe('true');
    expect(sustainedHigh([0.289, 0.29], 0.29).state).toBe('false');
  });

  it('is false when a known bucket is below the bar even if another bucket is unknown', () => {
    expect(sustainedHigh([null, 0, 5], 1).state).toBe('false');
    expect(sustainedHigh([0, null], 1).state).toBe('false');
  });

  it('cannot tell when a bucket is unknown and every known bucket reaches the bar', () => {
    expect(sustainedHigh([2, null, 2], 1)).toEqual({ state: 'unknown', totalLiters: 4 });
  });

  it('cannot tell when every bucket is unknown', () => {
    expect(sustainedHigh([null, null], 60).state).toBe('unknown');
  });
});
