import { describe, expect, it } from 'vitest';
import { zeroAtPeak } from './zero-at-peak.ts';

/** no-water-at-peak's allowance: at most 1 L in the peak window. */
describe('zeroAtPeak', () => {
  it('is true when the whole peak is known and used nothing', () => {
    expect(zeroAtPeak([0, 0, 0], 1)).toEqual({ state: 'true', totalLiters: 0 });
  });

  it('is true when the peak used exactly the allowance of 1 L', () => {
    expect(zeroAtPeak([0.5, 0, 0.5], 1)).toEqual({ state: 'true', totalLiters: 1 });
  });

  it('is false when the peak used more than 1 L', () => {
    expect(zeroAtPeak([0.5, 0.25, 0.5], 1)).toEqual({ state: 'false', totalLiters: 1.25 });
  });

  it('cannot tell when a bucket of the peak is unknown and the rest used at most 1 L', () => {
    expect(zeroAtPeak([0, null, 0], 1).state).toBe('unknown');
  });

  it('is false despite an unknown bucket once the known buckets used more than 1 L', () => {
    expect(zeroAtPeak([null, 4, 0], 1).state).toBe('false');
  });
});
