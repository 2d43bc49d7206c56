import { describe, expect, it } from 'vitest';
import { type HouseholdPlace, type ScopeOverrides } from '../core/rules.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { checkOverrides, resolveRules } from './rule-hierarchy.ts';
import { RuleResolver, type Places } from './rule-resolver.ts';

const HOUSEHOLDS: Record<string, HouseholdPlace> = {
  h1: { household: 'h1', grid: 'g1', community: 'c1', street: 's1' },
  h2: { household: 'h2', grid: 'g1', community: 'c1', street: 's1' },
  h3: { household: 'h3', grid: 'g2', community: 'c2', street: 's1' },
};
const places: Places = {
  household: (id) => HOUSEHOLDS[id],
  scope: (s) => {
    const h = Object.values(HOUSEHOLDS).find(
      (p) => (p as unknown as Record<string, string>)[s.level] === s.code,
    );
    if (s.level === 'global') return {};
    if (!h) return undefined;
    return s.level === 'street'
      ? { street: h.street }
      : s.level === 'community'
        ? { street: h.street, community: h.community }
        : { street: h.street, community: h.community, grid: h.grid };
  },
};
const resolver = (overrides: Record<string, ScopeOverrides>, config: ScopeOverrides = {}) =>
  new RuleResolver(DEFAULT_RULES, config, new Map(Object.entries(overrides)), places, 60);

describe('the rule hierarchy', () => {
  it('lets the most specific scope win, parameter by parameter, and names where each value comes from', () => {
    const r = resolver(
      {
        global: { 'low-use': { params: { maxTotalLiters: 8 } } },
        'street:s1': { 'low-use': { severity: 'warning' } },
        'community:c1': { 'low-use': { params: { windowMinutes: 720 } } },
        'grid:g1': { 'low-use': { params: { maxTotalLiters: 6 } } },
        'household:h1': { 'low-use': { enabled: false } },
      },
      { 'low-use': { params: { maxTotalLiters: 9 } } },
    );
    const low = r.effective('h1').rules.find((x) => x.id === 'low-use')!;
    expect(low).toMatchObject({
      enabled: false,
      severity: 'warning',
      params: { windowMinutes: 720, maxTotalLiters: 6, relativeToBaseline: null },
    });
    expect(low.sources).toMatchObject({
      enabled: 'household:h1',
      severity: 'street:s1',
      autoResolve: 'default',
      'params.windowMinutes': 'community:c1',
      'params.maxTotalLiters': 'grid:g1',
      'params.relativeToBaseline': 'default',
    });
    const other = r.effective('h3').rules.find((x) => x.id === 'low-use')!;
    expect(other.params).toMatchObject({ maxTotalLiters: 8 });
    expect(other.sources['params.maxTotalLiters']).toBe('global');
  });

  it('shows the config file as the source of its overrides', () => {
    const r = resolver({}, { 'meter-silent': { params: { afterMinutes: 30 } } });
    const silent = r.effective('h1').rules.find((x) => x.id === 'meter-silent')!;
    expect(silent.sources['params.afterMinutes']).toBe('config');
  });

  it('resolves each grid once and shares the result between its households without overrides', () => {
    const r = resolver({ 'household:h2': { 'heavy-use': { params: { minLitersPerBucket: 90 } } } });
    const h1 = r.rulesFor('h1');
    expect(r.rulesFor('h1')).toBe(h1);
    expect(r.rulesFor('h2')).not.toBe(h1);
    expect(r.rulesFor('h2').find((x) => x.id === 'heavy-use')!.params).toMatchObject({
      minLitersPerBucket: 90,
    });
    expect(r.rulesFor('unknown-household')).toEqual(r.rulesFor('h3'));
  });

  it('sizes the state for the most demanding scope', () => {
    const r = resolver({
      'grid:g2': { 'low-use': { params: { windowMinutes: 2880, clearHoldMinutes: 14 * 1440 } } },
      'household:h1': { 'no-water-at-peak': { params: { learnDays: 28 } } },
    });
    expect(r.needs()).toEqual({ windowMinutes: 2880, historyDays: 29, holdMinutes: 14 * 1440 });
    // The default leak clear-hold (a week): a backtest warms up through it.
    expect(resolver({}).needs()).toEqual({ windowMinutes: 1440, historyDays: 22, holdMinutes: 7 * 1440 });
  });

  it('names every bad field of an override: unknown rule, unknown parameter, bad value, bad field', () => {
    const issues = checkOverrides(DEFAULT_RULES, {
      'no-such-rule': { enabled: false },
      'low-use': { params: { maxTotalLiters: -1, windowHours: 3 } },
      'heavy-use': { severity: 'loud' },
      'no-water-at-peak': { params: { start: '6am' } },
    });
    expect(issues.map((i) => i.path)).toEqual([
      'no-such-rule',
      'low-use.params.maxTotalLiters',
      'low-use.params.windowHours',
      'heavy-use.severity',
      'no-water-at-peak.params.start',
    ]);
    expect(issues[2]!.message).toContain('windowMinutes');
  });

  it('reports what only the merged rule shows: a window off the bucket grid, minDays above learnDays', () => {
    const { issues } = resolveRules(
      DEFAULT_RULES,
      [
        { source: 'grid:g1', overrides: { 'low-use': { params: { windowMinutes: 90 } } } },
        {
          source: 'household:h1',
          overrides: { 'no-water-at-peak': { params: { minDays: 10, learnDays: 7 } } },
        },
      ],
      60,
    );
    expect(issues).toEqual([
      {
        path: 'low-use.params.windowMinutes',
        message: expect.stringContaining('multiple of the bucket size (60 minutes); got 90'),
        kind: 'multiple-of',
        limit: 60,
      },
      {
        path: 'no-water-at-peak.params.minDays',
        message: 'must be at most learnDays (7); got 10',
        kind: 'max',
        limit: 7,
      },
    ]);
  });
});
