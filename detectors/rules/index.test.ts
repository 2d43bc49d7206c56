import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../core/alerts.ts';
import { DEFAULT_RULES } from './default-rules.ts';
import { findRuleType, Rule, RULE_TYPES, ruleTypeOf } from './index.ts';

const HOUR = 3_600_000;
const CJK = /[\u4e00-\u9fff]/;

/** Evidence as a detection of `rule` records it: its params as thresholds, over its window. */
function evidenceOf(rule: Rule): Evidence {
  const thresholds: Evidence['thresholds'] = { bucketMinutes: 60 };
  for (const [k, v] of Object.entries(rule.params))
    if (typeof v !== 'object' || v === null) thresholds[k] = v;
  return {
    windowStart: 1_700_000_000_000,
    windowEnd: 1_700_000_000_000 + 3 * HOUR,
    buckets: [0, 0, 0],
    totalLiters: 0,
    thresholds,
    ruleVersion: 1,
  };
}

describe('the rule catalogue', () => {
  it('has exactly one module for the type of every default rule', () => {
    for (const rule of DEFAULT_RULES) {
      const modules = RULE_TYPES.filter((t) => t.type === rule.type);
      expect(modules, `${rule.id} (${rule.type})`).toHaveLength(1);
      expect(ruleTypeOf(rule)).toBe(modules[0]);
    }
  });

  it('names each type once, and every type it lists is used by a default rule', () => {
    const types = RULE_TYPES.map((t) => t.type);
    expect(new Set(types).size).toBe(types.length);
    for (const type of types)
      expect(
        DEFAULT_RULES.some((r) => r.type === type),
        type,
      ).toBe(true);
  });

  it('keeps each type in the file named after it, as that file’s export', async () => {
    for (const t of RULE_TYPES) {
      const file = (await import(/* @vite-ignore */ `./${t.type}.ts`)) as Record<string, unknown>;
      expect(Object.values(file), t.type).toContain(t);
    }
  });

  it('builds the Rule schema from the types’ schemas, in the catalogue’s order', () => {
    expect(Rule.options).toEqual(RULE_TYPES.map((t) => t.schema));
  });

  it('gives each type a schema that takes its default rules and whose params are the type’s params', () => {
    for (const rule of DEFAULT_RULES) {
      const t = ruleTypeOf(rule);
      expect(t.schema.safeParse(rule).success, rule.id).toBe(true);
      expect(t.params.safeParse(rule.params).success, rule.id).toBe(true);
      expect(t.schema.safeParse({ ...rule, type: `not-${rule.type}` }).success).toBe(false);
    }
  });

  it('gives each type a way to be evaluated that matches its clock', () => {
    for (const t of RULE_TYPES) {
      if (t.clock === 'event') expect(typeof t.onBucket, t.type).toBe('function');
      else expect(typeof t.onTick, t.type).toBe('function');
    }
  });

  it('says what every default rule needs, in whole minutes and days', () => {
    for (const rule of DEFAULT_RULES) {
      const n = ruleTypeOf(rule).needs(rule);
      expect(Number.isInteger(n.windowMinutes) && n.windowMinutes >= 0, rule.id).toBe(true);
      expect(Number.isInteger(n.historyDays) && n.historyDays >= 0, rule.id).toBe(true);
      expect(
        ruleTypeOf(rule).validate(rule, 60, (f) => f),
        rule.id,
      ).toEqual([]);
    }
  });

  it('opens every default rule’s alerts with a message in Chinese and in English', () => {
    for (const rule of DEFAULT_RULES) {
      const text = ruleTypeOf(rule).openedText(
        rule.audience,
        '3号楼 2单元 501',
        evidenceOf(rule),
        () => '06:00',
      );
      for (const lang of ['zh-CN', 'en'] as const) {
        expect(text[lang], `${rule.id} ${lang}`).toContain('3号楼 2单元 501');
        expect(text[lang], `${rule.id} ${lang}`).not.toMatch(/undefined|NaN|\[object/);
      }
      const body = (lang: 'zh-CN' | 'en') => text[lang].replace('3号楼 2单元 501', '');
      expect(body('zh-CN'), rule.id).toMatch(CJK);
      expect(body('en'), rule.id).not.toMatch(CJK);
      expect(body('en').length, rule.id).toBeGreaterThan(20);
    }
  });

  it('knows no type that is not in it', () => {
    expect(findRuleType('sustained-low')).toBe(RULE_TYPES[0]);
    expect(findRuleType('no-such-type')).toBeUndefined();
  });
});
