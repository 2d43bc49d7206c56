import {
  GLOBAL_CODE,
  scopeName,
  type EffectiveRule,
  type HouseholdPlace,
  type RuleScope,
  type ScopeOverrides,
} from '../core/rules.ts';
import type { Rule } from './rules/index.ts';
import { layersFor, resolveRules, scopesOf, type Resolved } from './rule-hierarchy.ts';
import { combineNeeds, ruleNeeds, type RuleNeeds } from './validate-rules.ts';

/** Where households and scopes sit in the organisation (the store answers; tests may pass a map). */
export interface Places {
  household(householdId: string): HouseholdPlace | undefined;
  /** The street / community / grid above a scope (and itself); undefined when the scope does not exist. */
  scope(
    scope: RuleScope,
  ): { district?: string; street?: string; community?: string; grid?: string; building?: string } | undefined;
}

/** The overrides of every scope, keyed by scope name (`global`, `grid:g1`, …). */
export type OverrideMap = ReadonlyMap<string, ScopeOverrides>;

/**
 * Resolves the effective rules of households from one snapshot of the overrides. Households without
 * overrides of their own share their grid's resolved rules: each grid (and each household with overrides)
 * is resolved once per snapshot, then cached.
 */
export class RuleResolver {
  private readonly byGrid = new Map<string, readonly Rule[]>();
  private readonly byHousehold = new Map<string, readonly Rule[]>();
  private globalRules: readonly Rule[] | undefined;

  constructor(
    readonly defaults: readonly Rule[],
    readonly config: ScopeOverrides,
    readonly overrides: OverrideMap,
    readonly places: Places,
    readonly bucketMinutes: number,
  ) {}

  rulesFor(householdId: string): readonly Rule[] {
    return this.rulesForPlace(householdId, this.places.household(householdId));
  }

  /** A household's rules when its place is already known (undefined: not registered). */
  rulesForPlace(householdId: string, place: HouseholdPlace | undefined): readonly Rule[] {
    if (!place)
      return (this.globalRules ??= this.firstValid(this.chainOf({ level: 'global', code: GLOBAL_CODE })));
    if (this.overrides.has(`household:${householdId}`)) {
      let rules = this.byHousehold.get(householdId);
      if (!rules) this.byHousehold.set(householdId, (rules = this.firstValid(scopesOf(place))));
      return rules;
    }
    // Households of one grid (and building) share their rules: every scope but the household's own.
    const key = place.building ? `${place.grid}\u0000${place.building}` : place.grid;
    let rules = this.byGrid.get(key);
    if (!rules) this.byGrid.set(key, (rules = this.firstValid(scopesOf(place).slice(0, -1))));
    return rules;
  }

  /** A household's rules with the source of every value. */
  effective(householdId: string): { place: HouseholdPlace | null; rules: EffectiveRule[] } {
    const place = this.places.household(householdId) ?? null;
    const chain = place ? scopesOf(place) : this.chainOf({ level: 'global', code: GLOBAL_CODE });
    return { place, rules: this.firstValidResolved(chain).rules };
  }

  /** Resolves the rules at a scope itself (for a household: exactly its rules), with issues. */
  resolveScope(scope: RuleScope): Resolved {
    return resolveRules(
      this.defaults,
      layersFor(this.config, (s) => this.overrides.get(scopeName(s)), this.chainOf(scope)),
      this.bucketMinutes,
    );
  }

  /** The scopes from global down to `scope`. */
  chainOf(scope: RuleScope): RuleScope[] {
    if (scope.level === 'household') {
      const place = this.places.household(scope.code);
      return place ? scopesOf(place) : [{ level: 'global', code: GLOBAL_CODE }, scope];
    }
    const p = this.places.scope(scope) ?? {};
    const chain: RuleScope[] = [{ level: 'global', code: GLOBAL_CODE }];
    if (p.district) chain.push({ level: 'district', code: p.district });
    if (p.street) chain.push({ level: 'street', code: p.street });
    if (p.community) chain.push({ level: 'community', code: p.community });
    if (p.grid) chain.push({ level: 'grid', code: p.grid });
    if (p.building) chain.push({ level: 'building', code: p.building });
    return chain;
  }

  /** What the state of every household must hold for any effective rule set of this snapshot. */
  needs(): RuleNeeds {
    const all = [ruleNeeds(this.firstValid(this.chainOf({ level: 'global', code: GLOBAL_CODE })))];
    for (const name of this.overrides.keys()) {
      const scope = parseScopeName(name);
      if (scope) all.push(ruleNeeds(this.firstValid(this.chainOf(scope))));
    }
    return combineNeeds(all);
  }

  /** The rules of the chain; if a combination is invalid (the registry moved a household), fewer scopes. */
  private firstValid(chain: readonly RuleScope[]): readonly Rule[] {
    return this.firstValidResolved(chain).rules.map(stripSources);
  }

  private firstValidResolved(chain: readonly RuleScope[]): Resolved {
    for (let n = chain.length; n >= 0; n--) {
      const layers = layersFor(this.config, (s) => this.overrides.get(scopeName(s)), chain.slice(0, n));
      const r = resolveRules(this.defaults, n === 0 ? layers.slice(0, 1) : layers, this.bucketMinutes);
      if (r.issues.length === 0 && r.rules.length > 0) return r;
    }
    return resolveRules(this.defaults, [], this.bucketMinutes);
  }
}

function stripSources(r: EffectiveRule): Rule {
  const { sources: _sources, ...rule } = r;
  return rule as Rule;
}

/** `grid:g1` → { level: 'grid', code: 'g1' }; `global` → the global scope. */
export function parseScopeName(name: string): RuleScope | undefined {
  if (name === 'global') return { level: 'global', code: GLOBAL_CODE };
  const i = name.indexOf(':');
  const level = name.slice(0, i);
  if (i < 0 || !['district', 'street', 'community', 'grid', 'building', 'household'].includes(level))
    return undefined;
  return { level: level as RuleScope['level'], code: name.slice(i + 1) };
}
