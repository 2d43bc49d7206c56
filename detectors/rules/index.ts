import { z } from 'zod';
import type { RuleOverride } from '../../core/rules.ts';
import type { RuleTypeModule } from './rule-type.ts';
import { silentType } from './silent.ts';
import { sustainedHighType } from './sustained-high.ts';
import { sustainedLowType } from './sustained-low.ts';
import { zeroAtPeakType } from './zero-at-peak.ts';

/**
 * The rule catalogue: every rule type careflow knows, one module each (detectors/rules/<type>.ts, see
 * `RuleTypeModule`). Adding a rule type is adding its module and one line here. The `Rule` schema is the
 * union of the types' schemas, in this order (the order zod reports a rule that matches none of them in).
 *
 * Why here and not in core: a rule type's condition runs on the detectors' per-household state, and core
 * imports nothing of ours. So core knows only what every rule shares (core/rules.ts: the envelope,
 * overrides, scopes), and the arrows stay one-way: core ← detectors/rules ← the rest of the detectors, and
 * the notifier (opening messages), simulators (ground truth), api and app, which use the catalogue.
 */
export const RULE_TYPES = [sustainedLowType, sustainedHighType, zeroAtPeakType, silentType] as const;

export const Rule = unionOf(RULE_TYPES);
export type Rule = z.infer<typeof Rule>;
export type RuleType = Rule['type'];
export type RuleOf<T extends RuleType> = Extract<Rule, { type: T }>;

/** The discriminated union of the types' schemas, in the order of the catalogue. */
type Discriminable = z.core.$ZodTypeDiscriminable;
function unionOf<const T extends readonly [{ schema: Discriminable }, ...{ schema: Discriminable }[]]>(
  types: T,
) {
  const schemas = types.map((t) => t.schema) as unknown as { -readonly [K in keyof T]: T[K]['schema'] };
  return z.discriminatedUnion('type', schemas);
}

const BY_TYPE = new Map<string, RuleTypeModule>(
  RULE_TYPES.map((t) => [t.type, t as unknown as RuleTypeModule]),
);

/** The module of a rule type by its name (undefined for a type careflow does not know). */
export function findRuleType(type: string): RuleTypeModule | undefined {
  return BY_TYPE.get(type);
}

/** The module of a valid rule's type, typed for that rule. */
export function ruleTypeOf<R extends Rule>(rule: R): RuleTypeModule<R> {
  return BY_TYPE.get(rule.type) as unknown as RuleTypeModule<R>;
}

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
