import { z } from 'zod';
import type { RuleOverride } from '../../core/rules.ts';
import { SilentRule } from './silent.ts';
import { SustainedHighRule } from './sustained-high.ts';
import { SustainedLowRule } from './sustained-low.ts';
import { ZeroAtPeakRule } from './zero-at-peak.ts';

/**
 * The rule catalogue: every rule type careflow knows, one module each (detectors/rules/<type>.ts). The `Rule`
 * schema is the union of their schemas; it is the single source of truth for rules.
 */
export const Rule = z.discriminatedUnion('type', [
  SustainedLowRule,
  SustainedHighRule,
  ZeroAtPeakRule,
  SilentRule,
]);
export type Rule = z.infer<typeof Rule>;
export type RuleType = Rule['type'];
export type RuleOf<T extends RuleType> = Extract<Rule, { type: T }>;

export const RuleSet = z.array(Rule).superRefine((rules, ctx) => {
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.id))
      ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate rule id "${r.id}"` });
    seen.add(r.id);
  });
});

/** Applies overrides by rule id to a base rule set and validates the result as a whole. */
export function applyRuleOverrides(base: Rule[], overrides: Record<string, RuleOverride>) {
  const merged = base.map((rule) => {
    const o = overrides[rule.id];
    if (!o) return rule;
    return { ...rule, ...o, params: { ...rule.params, ...(o.params ?? {}) } };
  });
  const unknown = Object.keys(overrides).filter((id) => !base.some((r) => r.id === id));
  const parsed = RuleSet.safeParse(merged);
  return { parsed, unknown };
}
