import type { HouseholdPlace, RuleChangeRecord, RuleOverride, RuleScope, RuleScopeLevel } from '../rules.ts';
import type { Db } from './open-store.ts';

interface ChangeRow {
  version: number;
  at: number;
  actor: string;
  level: RuleScopeLevel;
  code: string;
  rule_id: string;
  old: string | null;
  new: string | null;
  reason: string;
}

/**
 * Rule overrides by scope (global, street, community, grid, household) and their versioned history: every
 * change set gets the next version number (version 1 is the rules of the config file alone), and each rule
 * it changed a history row with old and new values, who, when and why.
 */
export class RuleRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      all: db.prepare('SELECT level, code, rule_id, override FROM rule_overrides'),
      upsert: db.prepare(
        `INSERT INTO rule_overrides (level, code, rule_id, override, version) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(level, code, rule_id) DO UPDATE SET override = excluded.override, version = excluded.version`,
      ),
      remove: db.prepare('DELETE FROM rule_overrides WHERE level = ? AND code = ? AND rule_id = ?'),
      change: db.prepare(
        `INSERT INTO rule_changes (version, at, actor, level, code, rule_id, old, new, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      version: db.prepare('SELECT max(version) FROM rule_changes').pluck(),
      history: db.prepare('SELECT * FROM rule_changes WHERE level = ? AND code = ? ORDER BY id DESC LIMIT ?'),
      upTo: db.prepare('SELECT * FROM rule_changes WHERE version <= ? ORDER BY id'),
      place: db.prepare(
        `SELECT h.id AS household, h.grid AS grid, g.community AS community, c.street AS street,
           st.district AS district, h.building AS building
         FROM households h JOIN grids g ON g.code = h.grid JOIN communities c ON c.code = g.community
         LEFT JOIN streets st ON st.code = c.street WHERE h.id = ?`,
      ),
      gridPlace: db.prepare(
        `SELECT g.code AS grid, g.community AS community, c.street AS street, st.district AS district
         FROM grids g JOIN communities c ON c.code = g.community LEFT JOIN streets st ON st.code = c.street
         WHERE g.code = ?`,
      ),
      buildingGrid: db.prepare('SELECT grid FROM buildings WHERE code = ?').pluck(),
      streetDistrict: db.prepare('SELECT district FROM streets WHERE code = ?').pluck(),
      districtExists: db.prepare('SELECT 1 FROM districts WHERE code = ?').pluck(),
      communityStreet: db.prepare('SELECT street FROM communities WHERE code = ?').pluck(),
      streetExists: db.prepare('SELECT 1 FROM streets WHERE code = ?').pluck(),
    };
  }

  /** Every scope's current overrides. */
  all(): { scope: RuleScope; ruleId: string; override: RuleOverride }[] {
    return (
      this.s.all.all() as { level: RuleScopeLevel; code: string; rule_id: string; override: string }[]
    ).map((r) => ({
      scope: { level: r.level, code: r.code },
      ruleId: r.rule_id,
      override: JSON.parse(r.override) as RuleOverride,
    }));
  }

  /** The newest version (1 when nothing was ever changed). */
  version(): number {
    return (this.s.version.get() as number | null) ?? 1;
  }

  /** Sets (or with null removes) one rule's override at a scope, recording the change. Call in a transaction. */
  apply(change: RuleChangeRecord): void {
    const { scope } = change;
    if (change.new === null) this.s.remove.run(scope.level, scope.code, change.ruleId);
    else
      this.s.upsert.run(scope.level, scope.code, change.ruleId, JSON.stringify(change.new), change.version);
    this.s.change.run(
      change.version,
      change.at,
      change.actor,
      scope.level,
      scope.code,
      change.ruleId,
      change.old === null ? null : JSON.stringify(change.old),
      change.new === null ? null : JSON.stringify(change.new),
      change.reason,
    );
  }

  /** A scope's changes, newest first. */
  history(scope: RuleScope, limit: number): RuleChangeRecord[] {
    return (this.s.history.all(scope.level, scope.code, limit) as ChangeRow[]).map(toRecord);
  }

  /** Every change up to and including `version`, oldest first (to rebuild the overrides as they were then). */
  changesUpTo(version: number): RuleChangeRecord[] {
    return (this.s.upTo.all(version) as ChangeRow[]).map(toRecord);
  }

  /** Where a household sits: its grid, community and street (undefined for an unknown household). */
  place(householdId: string): HouseholdPlace | undefined {
    const row = this.s.place.get(householdId) as
      | (Omit<HouseholdPlace, 'district' | 'building'> & { district: string | null; building: string | null })
      | undefined;
    return row && withoutNulls(row);
  }

  /** The street and community above a scope, for access checks; undefined when the scope does not exist. */
  scopePlace(
    scope: RuleScope,
  ):
    { district?: string; street?: string; community?: string; grid?: string; building?: string } | undefined {
    const districtOf = (street: string) => {
      const d = this.s.streetDistrict.get(street) as string | null | undefined;
      return d ? { district: d } : {};
    };
    switch (scope.level) {
      case 'global':
        return {};
      case 'district':
        return this.s.districtExists.get(scope.code) === undefined ? undefined : { district: scope.code };
      case 'street':
        return this.s.streetExists.get(scope.code) === undefined
          ? undefined
          : { ...districtOf(scope.code), street: scope.code };
      case 'community': {
        const street = this.s.communityStreet.get(scope.code) as string | undefined;
        return street === undefined ? undefined : { ...districtOf(street), street, community: scope.code };
      }
      case 'grid': {
        const row = this.s.gridPlace.get(scope.code) as
          { street: string; community: string; grid: string; district: string | null } | undefined;
        return row && withoutNulls(row);
      }
      case 'building': {
        const grid = this.s.buildingGrid.get(scope.code) as string | undefined;
        const p = grid === undefined ? undefined : this.scopePlace({ level: 'grid', code: grid });
        return p && { ...p, building: scope.code };
      }
      case 'household': {
        const p = this.place(scope.code);
        return (
          p && {
            ...(p.district ? { district: p.district } : {}),
            street: p.street,
            community: p.community,
            grid: p.grid,
            ...(p.building ? { building: p.building } : {}),
          }
        );
      }
    }
  }

  /** The households a scope covers, in id order. */
  householdsIn(scope: RuleScope): string[] {
    const sql: Record<RuleScopeLevel, string> = {
      global: 'SELECT id FROM households ORDER BY id',
      street: `SELECT h.id FROM households h JOIN grids g ON g.code = h.grid JOIN communities c ON c.code = g.community
               WHERE c.street = ? ORDER BY h.id`,
      community: `SELECT h.id FROM households h JOIN grids g ON g.code = h.grid WHERE g.community = ? ORDER BY h.id`,
      grid: 'SELECT id FROM households WHERE grid = ? ORDER BY id',
      district: `SELECT h.id FROM households h JOIN grids g ON g.code = h.grid JOIN communities c ON c.code = g.community
               JOIN streets st ON st.code = c.street WHERE st.district = ? ORDER BY h.id`,
      building: 'SELECT id FROM households WHERE building = ? ORDER BY id',
      household: 'SELECT id FROM households WHERE id = ?',
    };
    const stmt = this.db.prepare(sql[scope.level]).pluck();
    return (scope.level === 'global' ? stmt.all() : stmt.all(scope.code)) as string[];
  }
}

/** A row with its null columns left out (places without a district or building look as they always did). */
function withoutNulls<T extends Record<string, unknown>>(row: T): { [K in keyof T]: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };
}

function toRecord(r: ChangeRow): RuleChangeRecord {
  return {
    version: r.version,
    at: r.at,
    actor: r.actor,
    scope: { level: r.level, code: r.code },
    ruleId: r.rule_id,
    old: r.old === null ? null : (JSON.parse(r.old) as RuleOverride),
    new: r.new === null ? null : (JSON.parse(r.new) as RuleOverride),
    reason: r.reason,
  };
}
