import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import { maxWindowMinutes, validateRulesForBuckets } from './validate-rules.ts';

/** A default rule with some params changed, checked by the rule schema. */
function withParams(id: string, params: Record<string, unknown>): Rule {
  const base = DEFAULT_RULES.find((r) => r.id === id)!;
  return Rule.parse({ ...base, params: { ...base.params, ...params } });
}

const others = (...ids: string[]) => DEFAULT_RULES.filter((r) => !ids.includes(r.id));

describe('validateRulesForBuckets', () => {
  it.each([15, 30, 60])('accepts the default rules with %i-minute buckets', (bucketMinutes) => {
    expect(validateRulesForBuckets(DEFAULT_RULES, bucketMinutes)).toEqual([]);
  });

  it('reports a window that is not a multiple of the bucket size at <ruleId>.params.windowMinutes', () => {
    const issues = validateRulesForBuckets([withParams('low-use', { windowMinutes: 90 })], 60);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('low-use.params.windowMinutes');
    expect(issues[0]!.message).toContain('60');
    expect(issues[0]!.message).toContain('90');
  });

  it('accepts the same 90-minute window with 30-minute buckets', () => {
    expect(validateRulesForBuckets([withParams('low-use', { windowMinutes: 90 })], 30)).toEqual([]);
  });

  it('reports a sustained-high window off the bucket grid', () => {
    const issues = validateRulesForBuckets([withParams('heavy-use', { windowMinutes: 100 })], 15);
    expect(issues.map((i) => i.path)).toEqual(['heavy-use.params.windowMinutes']);
  });

  it('reports a peak start off a bucket boundary', () => {
    const issues = validateRulesForBuckets([withParams('no-water-at-peak', { start: '06:30' })], 60);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('no-water-at-peak.params.start');
    expect(issues[0]!.message).toContain('60-minute');
  });

  it('accepts a peak start on the half hour with 30-minute buckets', () => {
    expect(validateRulesForBuckets([withParams('no-water-at-peak', { start: '06:30' })], 30)).toEqual([]);
  });

  it('reports a peak end off a bucket boundary', () => {
    const issues = validateRulesForBuckets([withParams('no-water-at-peak', { end: '09:45' })], 30);
    expect(issues.map((i) => i.path)).toEqual(['no-water-at-peak.params.end']);
  });

  it('reports a peak that ends when it starts', () => {
    const issues = validateRulesForBuckets(
      [withParams('no-water-at-peak', { start: '07:00', end: '07:00' })],
      60,
    );
    expect(issues.map((i) => i.path)).toEqual(['no-water-at-peak.params.end']);
  });

  it('reports every problem, not just the first, and leaves good rules alone', () => {
    const rules = [
      ...others('low-use', 'no-water-at-peak'),
      withParams('low-use', { windowMinutes: 45 }),
      withParams('no-water-at-peak', { start: '06:15', end: '08:50' }),
    ];
    expect(validateRulesForBuckets(rules, 30).map((i) => i.path)).toEqual([
      'low-use.params.windowMinutes',
      'no-water-at-peak.params.start',
      'no-water-at-peak.params.end',
    ]);
  });
});

describe('maxWindowMinutes', () => {
  it('is the longest window of the default rules: 24 h', () => {
    expect(maxWindowMinutes(DEFAULT_RULES)).toBe(1440);
  });

  it('counts a peak window that crosses midnight, and its confirmation', () => {
    const peak = (confirmMinutes: number) =>
      withParams('no-water-at-peak', { start: '22:00', end: '04:00', confirmMinutes });
    expect(maxWindowMinutes([peak(0)])).toBe(360);
    expect(maxWindowMinutes([peak(120)])).toBe(480);
  });

  it('is at least one hour, even for rules without a window', () => {
    expect(maxWindowMinutes(DEFAULT_RULES.filter((r) => r.type === 'silent'))).toBe(60);
    expect(maxWindowMinutes([])).toBe(60);
  });

  it('follows a longer sustained window', () => {
    expect(maxWindowMinutes([...others('low-use'), withParams('low-use', { windowMinutes: 2880 })])).toBe(
      2880,
    );
  });
});
