import { describe, expect, it } from 'vitest';
import { etaText } from './eta.ts';

describe('etaText', () => {
  it('extrapolates the pace so far', () => {
    expect(etaText(10, 40, 10_000)).toBe('~30 s left');
    expect(etaText(1, 11, 60_000)).toBe('~10 min left');
    expect(etaText(1, 4, 3_600_000)).toBe('~3.0 h left');
  });
  it('says when it cannot tell yet and when it is done', () => {
    expect(etaText(0, 40, 5_000)).toBe('estimating…');
    expect(etaText(40, 40, 5_000)).toBe('done');
  });
});
