import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, type RuleOf } from '../../core/rules.ts';
import { sustainedLow } from './sustained-low.ts';

const lowUse = DEFAULT_RULES.find((r): r is RuleOf<'sustained-low'> => r.id === 'low-use')!;

describe('sustainedLow', () => {
  it('is true when every bucket is known and the total is below the limit', () => {
    expect(sustainedLow(lowUse, [1, 2, 3, 3.5])).toEqual({ state: 'true', totalLiters: 9.5 });
  });

  it('is true for a window with no use at all', () => {
    expect(sustainedLow(lowUse, new Array<number>(24).fill(0))).toEqual({ state: 'true', totalLiters: 0 });
  });

  it('is false when the total reaches the limit exactly', () => {
    expect(sustainedLow(lowUse, [4, 6])).toEqual({ state: 'false', totalLiters: 10 });
  });

  it('cannot tell when a bucket is unknown and the known total is below the limit', () => {
    expect(sustainedLow(lowUse, [0, null, 0])).toEqual({ state: 'unknown', totalLiters: 0 });
  });

  it('is false despite unknown buckets once the known buckets alone reach the limit', () => {
    expect(sustainedLow(lowUse, [null, 12, null])).toEqual({ state: 'false', totalLiters: 12 });
  });

  it('cannot tell when every bucket is unknown', () => {
    expect(sustainedLow(lowUse, [null, null]).state).toBe('unknown');
  });

  it('uses the limit of the rule it is given', () => {
    const strict: RuleOf<'sustained-low'> = { ...lowUse, params: { ...lowUse.params, maxTotalLiters: 2 } };
    expect(sustainedLow(strict, [1, 1]).state).toBe('false');
    expect(sustainedLow(strict, [1, 0.5]).state).toBe('true');
  });
});
