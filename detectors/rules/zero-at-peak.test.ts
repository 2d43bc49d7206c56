import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, type RuleOf } from '../../core/rules.ts';
import { zeroAtPeak } from './zero-at-peak.ts';

const noWaterAtPeak = DEFAULT_RULES.find((r): r is RuleOf<'zero-at-peak'> => r.id === 'no-water-at-peak')!;

describe('zeroAtPeak', () => {
  it('is true when the whole peak is known and used nothing', () => {
    expect(zeroAtPeak(noWaterAtPeak, [0, 0, 0])).toEqual({ state: 'true', totalLiters: 0 });
  });

  it('is true when the peak used exactly the allowance of 1 L', () => {
    expect(zeroAtPeak(noWaterAtPeak, [0.5, 0, 0.5])).toEqual({ state: 'true', totalLiters: 1 });
  });

  it('is false when the peak used more than 1 L', () => {
    expect(zeroAtPeak(noWaterAtPeak, [0.5, 0.25, 0.5])).toEqual({ state: 'false', totalLiters: 1.25 });
  });

  it('cannot tell when a bucket of the peak is unknown and the rest used at most 1 L', () => {
    expect(zeroAtPeak(noWaterAtPeak, [0, null, 0]).state).toBe('unknown');
  });

  it('is false despite an unknown bucket once the known buckets used more than 1 L', () => {
    expect(zeroAtPeak(noWaterAtPeak, [null, 4, 0]).state).toBe('false');
  });
});
