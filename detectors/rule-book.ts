import { CareflowError, describeIssues, type FieldIssue } from '../core/errors.ts';
import {
  scopeName,
  type EffectiveRules,
  type HouseholdPlace,
  type RuleAdmin,
  type RuleChangeRecord,
  type RuleChanges,
  type RuleOverride,
  type RuleScope,
  type ScopeOverrides,
} from '../core/rules.ts';
import type { Rule } from './rules/index.ts';
import type { Store } from '../core/store/store.ts';
import { checkOverrides } from './rule-hierarchy.ts';
import { parseScopeName, RuleResolver, type OverrideMap, type Places } from './rule-resolver.ts';
import type { RuleNeeds } from './validate-rules.ts';

/** The rule overrides and their history, and the places of scopes and households: what the rule hierarchy reads. */
export type RuleReadTables = Pick<Store, 'rules'>;

/** The parts of the embedded store the rule book uses: the rule tables, and a transaction to store a change. */
export type RuleBookTables = Pick<Store, 'rules' | 'transaction'>;

/**
 * The live rule hierarchy: overrides by scope in the store, a resolver over the current snapshot, and
 * listeners (the detectors) told of each new version. Every change is validated as a whole — the scope's
 * own rules and those of every more specific scope below it that sets overrides — before it is stored.
 */
export class RuleBook implements RuleAdmin {
  private resolver: RuleResolver;
  private current: number;
  private readonly listeners: ((version: number) => void)[] = [];

  constructor(
    private readonly store: RuleBookTables,
    private readonly defaults: readonly Rule[],
    private readonly config: ScopeOverrides,
    private readonly bucketMinutes: number,
  ) {
    this.resolver = this.resolverOf(storedOverrides(store));
    this.current = store.rules.version();
  }

  /**
   * Re-reads the overrides if another connection changed them (a cluster worker's pull of the shared rules)
   * and tells the listeners; returns whether they changed. Cheap when nothing did (one indexed read).
   */
  followStore(): boolean {
    const stored = this.store.rules.version();
    if (stored === this.current) return false;
    this.resolver = this.resolverOf(storedOverrides(this.store));
    this.current = stored;
    for (const l of this.listeners) l(stored);
    return true;
  }

  static places(store: RuleReadTables): Places {
    return { household: (id) => store.rules.place(id), scope: (s) => store.rules.scopePlace(s) };
  }

  version(): number {
    return this.current;
  }

  rulesFor(householdId: string): readonly Rule[] {
    return this.resolver.rulesFor(householdId);
  }

  /** A household's rules when the caller already knows its place (the detectors keep places per household). */
  rulesForPlace(householdId: string, place: HouseholdPlace | undefined): readonly Rule[] {
    return this.resolver.rulesForPlace(householdId, place);
  }

  needs(): RuleNeeds {
    return this.resolver.needs();
  }

  onChange(listener: (version: number) => void): void {
    this.listeners.push(listener);
  }

  effective(householdId: string): EffectiveRules {
    const { place, rules } = this.resolver.effective(householdId);
    return { householdId, place, rulesVersion: this.current, rules };
  }

  overrides(scope: RuleScope): ScopeOverrides {
    return { ...this.resolver.overrides.get(scopeName(scope)) };
  }

  history(scope: RuleScope, limit: number): RuleChangeRecord[] {
    return this.store.rules.history(scope, limit);
  }

  /**
   * A backtest's rules: the overrides as they are (or were at `version`), with `changes` made at `scope`.
   * The changes are validated like a real change.
   */
  candidate(scope: RuleScope, changes: RuleChanges | null, version?: number): RuleResolver {
    const base = version === undefined || version === this.current ? this.resolver : this.asOf(version);
    if (!changes) return base;
    if (!this.store.rules.scopePlace(scope)) throw scopeNotFound(scope);
    const issues = this.check(scope, changes, base.overrides);
    if (issues.length > 0) throw invalid(issues);
    return this.resolverOf(applyChanges(base.overrides, scope, changes));
  }

  /** The resolver of the overrides as they were at `version` (the config file's rules as they are now). */
  asOf(version: number): RuleResolver {
    const map = new Map<string, ScopeOverrides>();
    for (const c of this.store.rules.changesUpTo(version)) {
      const next = applyChanges(map, c.scope, { [c.ruleId]: c.new });
      map.clear();
      for (const [k, v] of next) map.set(k, v);
    }
    return this.resolverOf(map);
  }

  resolverNow(): RuleResolver {
    return this.resolver;
  }

  set(
    scope: RuleScope,
    changes: RuleChanges,
    by: { actor: string; at: number; reason: string },
    stored?: (result: { version: number; changes: RuleChangeRecord[] }) => void,
  ): { version: number; changes: RuleChangeRecord[] } {
    const issues = this.check(scope, changes);
    if (issues.length > 0) throw invalid(issues);
    const before = this.overrides(scope);
    const version = this.store.rules.version() + 1;
    const records: RuleChangeRecord[] = [];
    for (const [ruleId, next] of Object.entries(changes)) {
      const old = before[ruleId] ?? null;
      if (JSON.stringify(old) === JSON.stringify(next)) continue;
      records.push({ version, at: by.at, actor: by.actor, scope, ruleId, old, new: next, reason: by.reason });
    }
    if (records.length === 0) return { version: this.current, changes: [] };
    this.store.transaction(() => {
      records.forEach((r) => this.store.rules.apply(r));
      stored?.({ version, changes: records });
    });
    this.resolver = this.resolverOf(applyChanges(this.resolver.overrides, scope, changes));
    this.current = version;
    for (const l of this.listeners) l(version);
    return { version, changes: records };
  }

  /** Every problem the change would cause, with field paths as in the request (`rules.low-use.params.x`). */
  private check(
    scope: RuleScope,
    changes: RuleChanges,
    base: OverrideMap = this.resolver.overrides,
  ): FieldIssue[] {
    const own = checkOverrides(this.defaults, changes).map((i) => ({ ...i, path: `rules.${i.path}` }));
    if (own.length > 0) return own;
    if (!this.store.rules.scopePlace(scope)) throw scopeNotFound(scope);
    const next = this.resolverOf(applyChanges(base, scope, changes));
    const issues = next.resolveScope(scope).issues.map((i) => ({ ...i, path: `rules.${i.path}` }));
    // More specific scopes below keep their overrides: the combination must stay valid for them too.
    for (const name of next.overrides.keys()) {
      const below = next.chainOf(parseScopeName(name)!);
      if (name === scopeName(scope) || !below.some((s) => scopeName(s) === scopeName(scope))) continue;
      for (const i of next.resolveScope(below[below.length - 1]!).issues) {
        issues.push({ path: `rules.${i.path}`, message: `with the overrides of ${name}: ${i.message}` });
      }
    }
    return issues;
  }

  private resolverOf(map: OverrideMap): RuleResolver {
    return new RuleResolver(this.defaults, this.config, map, RuleBook.places(this.store), this.bucketMinutes);
  }
}

function storedOverrides(store: RuleReadTables): Map<string, ScopeOverrides> {
  const map = new Map<string, ScopeOverrides>();
  for (const o of store.rules.all()) {
    const name = scopeName(o.scope);
    map.set(name, { ...map.get(name), [o.ruleId]: o.override });
  }
  return map;
}

function applyChanges(map: OverrideMap, scope: RuleScope, changes: RuleChanges): Map<string, ScopeOverrides> {
  const next = new Map(map);
  const name = scopeName(scope);
  const own: Record<string, RuleOverride> = { ...next.get(name) };
  for (const [ruleId, o] of Object.entries(changes)) {
    if (o === null) delete own[ruleId];
    else own[ruleId] = o;
  }
  if (Object.keys(own).length === 0) next.delete(name);
  else next.set(name, own);
  return next;
}

function invalid(issues: FieldIssue[]): CareflowError {
  return new CareflowError(
    'ERR_RULES_INVALID',
    `The rule change is not valid: ${describeIssues(issues)}`,
    issues,
  );
}

export function scopeNotFound(scope: RuleScope): CareflowError {
  return scope.level === 'household'
    ? new CareflowError('ERR_HOUSEHOLD_NOT_FOUND', `No household ${scope.code}`)
    : new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${scope.level} ${scope.code}`);
}
