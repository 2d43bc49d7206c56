import type { FieldIssue } from '../core/errors.ts';
import { ruleTypeOf, type Rule } from './rules/index.ts';
import type { RuleNeeds } from './rules/rule-type.ts';

/**
 * Checks what the rule schema alone cannot: windows and peak times must fit the bucket size, and more (each
 * rule type's `validate`, detectors/rules).
 */
export function validateRulesForBuckets(rules: readonly Rule[], bucketMinutes: number): FieldIssue[] {
  const issues: FieldIssue[] = [];
  rules.forEach((rule, i) => {
    const at = (field: string) => `${rule.id ?? i}.params.${field}`;
    issues.push(...ruleTypeOf(rule).validate(rule, bucketMinutes, at));
  });
  return issues;
}

export type { RuleNeeds };

/** The longest history any rule looks at, in minutes (at least an hour). */
export function maxWindowMinutes(rules: readonly Rule[]): number {
  let max = 60;
  for (const r of rules) max = Math.max(max, ruleTypeOf(r).needs(r).windowMinutes);
  return max;
}

/**
 * Days of hourly history to keep: a learned peak looks at `learnDays` days before today, a baseline at
 * 21; the current day is held too (disabled rules count: their history is ready when they are enabled).
 * 0 when no rule needs any: then no history is kept at all.
 */
export function historyDays(rules: readonly Rule[]): number {
  let days = 0;
  for (const r of rules) days = Math.max(days, ruleTypeOf(r).needs(r).historyDays);
  return days;
}

export function ruleNeeds(rules: readonly Rule[]): RuleNeeds {
  let hold = 0;
  for (const r of rules) hold = Math.max(hold, ruleTypeOf(r).needs(r).holdMinutes ?? 0);
  return { windowMinutes: maxWindowMinutes(rules), historyDays: historyDays(rules), holdMinutes: hold };
}

/** The needs of several rule sets together (every scope's effective rules). */
export function combineNeeds(needs: readonly RuleNeeds[]): RuleNeeds {
  return {
    windowMinutes: Math.max(60, ...needs.map((n) => n.windowMinutes)),
    historyDays: Math.max(0, ...needs.map((n) => n.historyDays)),
    holdMinutes: Math.max(0, ...needs.map((n) => n.holdMinutes ?? 0)),
  };
}
