import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, type RuleOf } from '../../core/rules.ts';
import { sustainedHigh } from './sustained-high.ts';

const rule = (id: string) => DEFAULT_RULES.find((r): r is RuleOf<'sustained-high'> => r.id === id)!;
const continuousFlow = rule('continuous-flow');
const heavyUse = rule('heavy-use');

describe('sustainedHigh', () => {
  it('is true when every bucket is known and at least the bar', () => {
    expect(sustainedHigh(continuousFlow, [1, 2.5, 1])).toEqual({ state: 'true', totalLiters: 4.5 });
    expect(sustainedHigh(heavyUse, [60, 75])).toEqual({ state: 'true', totalLiters: 135 });
  });

  it('is false when one known bucket is below the bar', () => {
    expect(sustainedHigh(continuousFlow, [3, 0.99, 3]).state).toBe('false');
    expect(sustainedHigh(heavyUse, [59.9, 100]).state).toBe('false');
  });

  it('is false when a known bucket is below the bar even if another bucket is unknown', () => {
    expect(sustainedHigh(continuousFlow, [null, 0, 5]).state).toBe('false');
    expect(sustainedHigh(continuousFlow, [0, null]).state).toBe('false');
  });

  it('cannot tell when a bucket is unknown and every known bucket reaches the bar', () => {
    expect(sustainedHigh(continuousFlow, [2, null, 2])).toEqual({ state: 'unknown', totalLiters: 4 });
  });

  it('cannot tell when every bucket is unknown', () => {
    expect(sustainedHigh(heavyUse, [null, null]).state).toBe('unknown');
  });
});
