import { fieldIssues, type FieldIssue } from '../core/errors.ts';
import {
  GLOBAL_CODE,
  RuleOverride,
  scopeName,
  type EffectiveRule,
  type HouseholdPlace,
  type RuleScope,
  type ScopeOverrides,
} from '../core/rules.ts';
import { Rule, RuleSet, ruleTypeOf } from './rules/index.ts';
import { validateRulesForBuckets } from './validate-rules.ts';

/**
 * The rule hierarchy, pure: default rules ← config file ← global ← street ← community ← grid ← household.
 * The most specific scope wins, field by field and parameter by parameter, and every value remembers where
 * it came from.
 */
export interface OverrideLayer {
  /** `default`, `config`, `global`, `street:s1`, … */
  source: string;
  overrides: ScopeOverrides;
}

export interface Resolved {
  rules: EffectiveRule[];
  issues: FieldIssue[];
}

const FIELDS = ['enabled', 'severity', 'autoResolve', 'suppressedWhenAway'] as const;

/** Applies the layers, least specific first, to the default rules; validates the result as a whole. */
export function resolveRules(
  defaults: readonly Rule[],
  layers: readonly OverrideLayer[],
  bucketMinutes: number,
): Resolved {
  const merged = defaults.map((rule) => {
    const out = { ...rule, params: { ...rule.params } } as Record<string, unknown> & {
      params: Record<string, unknown>;
    };
    const sources: Record<string, string> = {};
    for (const f of FIELDS) sources[f] = 'default';
    for (const p of Object.keys(rule.params)) sources[`params.${p}`] = 'default';
    for (const layer of layers) {
      const o = layer.overrides[rule.id];
      if (!o) continue;
      for (const f of FIELDS) {
        if (o[f] === undefined) continue;
        out[f] = o[f];
        sources[f] = layer.source;
      }
      for (const [p, v] of Object.entries(o.params ?? {})) {
        out.params[p] = v;
        sources[`params.${p}`] = layer.source;
      }
    }
    return { rule: out, sources };
  });
  const parsed = RuleSet.safeParse(merged.map((m) => m.rule));
  if (!parsed.success) {
    return {
      rules: [],
      issues: fieldIssues(parsed.error.issues).map((i) => ({ ...i, path: idPath(i.path, defaults) })),
    };
  }
  const issues = validateRulesForBuckets(parsed.data, bucketMinutes);
  const rules = parsed.data.map((r, i) => ({ ...r, sources: merged[i]!.sources }));
  return { rules, issues };
}

/** `3.params.windowMinutes` → `low-use.params.windowMinutes`. */
function idPath(path: string, defaults: readonly Rule[]): string {
  const [index, ...rest] = path.split('.');
  const rule = defaults[Number(index)];
  return rule ? [rule.id, ...rest].join('.') : path;
}

/** Checks one scope's overrides on their own: known rules, known fields, each value valid for its parameter. */
export function checkOverrides(defaults: readonly Rule[], overrides: Record<string, unknown>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [id, raw] of Object.entries(overrides)) {
    const rule = defaults.find((r) => r.id === id);
    if (!rule) {
      issues.push({ path: id, message: `no rule "${id}" (rules: ${defaults.map((r) => r.id).join(', ')})` });
      continue;
    }
    if (raw === null) continue;
    const parsed = RuleOverride.safeParse(raw);
    if (!parsed.success) {
      issues.push(...fieldIssues(parsed.error.issues).map((i) => ({ ...i, path: `${id}.${i.path}` })));
      continue;
    }
    const shape = ruleTypeOf(rule).params.shape as Record<
      string,
      {
        safeParse(v: unknown): {
          success: boolean;
          error?: { issues: { path: PropertyKey[]; message: string }[] };
        };
      }
    >;
    for (const [p, v] of Object.entries(parsed.data.params ?? {})) {
      const schema = shape[p];
      if (!schema) {
        issues.push({
          path: `${id}.params.${p}`,
          message: `not a parameter of ${rule.type} rules (parameters: ${Object.keys(shape).join(', ')})`,
        });
        continue;
      }
      const r = schema.safeParse(v);
      if (!r.success)
        issues.push(...fieldIssues(r.error!.issues).map((i) => ({ ...i, path: `${id}.params.${p}` })));
    }
  }
  return issues;
}

/** The scopes that apply to a household, least specific first (global first, the household last). */
export function scopesOf(place: HouseholdPlace): RuleScope[] {
  const scopes: RuleScope[] = [{ level: 'global', code: GLOBAL_CODE }];
  if (place.district) scopes.push({ level: 'district', code: place.district });
  scopes.push(
    { level: 'street', code: place.street },
    { level: 'community', code: place.community },
    { level: 'grid', code: place.grid },
  );
  if (place.building) scopes.push({ level: 'building', code: place.building });
  scopes.push({ level: 'household', code: place.household });
  return scopes;
}

/** The layers for a household (or, with `upTo`, for a scope itself): config first, then its scopes. */
export function layersFor(
  config: ScopeOverrides,
  overridesOf: (scope: RuleScope) => ScopeOverrides | undefined,
  scopes: readonly RuleScope[],
): OverrideLayer[] {
  const layers: OverrideLayer[] = [{ source: 'config', overrides: config }];
  for (const scope of scopes) {
    const o = overridesOf(scope);
    if (o && Object.keys(o).length > 0) layers.push({ source: scopeName(scope), overrides: o });
  }
  return layers;
}
