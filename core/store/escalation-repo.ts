import type { GridPlace } from '../access.ts';
import {
  DEFAULT_ESCALATION,
  type AlertText,
  type EscalationChain,
  type EscalationScopeLevel,
  type EscalationSettings,
  type EscalationTarget,
} from '../alerts.ts';
import type { WorkerRole } from '../registry.ts';
import type { RuleAudience } from '../rules.ts';
import type { Db } from './open-store.ts';

export type EscalationState = 'active' | 'stopped' | 'exhausted';

/** One alert's escalation: the chain it follows (fixed when the alert opened) and where it stands. */
export interface EscalationRecord {
  alertId: string;
  chain: EscalationChain;
  /** Where the chain came from: `grid:g1`, `community:c1`, `street:s1`, `global` or `default`. */
  source: string;
  /** What the alert is about, repeated in reminders and escalations. */
  summary: AlertText;
  /** When the chain (re)started. */
  startedAt: number;
  /** Index into `chain.levels`. */
  level: number;
  levelStartedAt: number;
  /** Reminders sent at the current level. */
  reminders: number;
  /** When the next step (reminder, next level, end) is due; null once the chain is over. */
  nextAt: number | null;
  state: EscalationState;
  stoppedReason: string | null;
  updatedAt: number;
}

/** A person an escalation level names. */
export interface Person {
  id: string;
  name: string;
  role: WorkerRole;
  phone: string | null;
}

export interface EffectiveChain {
  chain: EscalationChain;
  /** `grid:g1`, `community:c1`, `street:s1`, `global` or `default`. */
  source: string;
}

/** A level of a chain with the people it names for one grid. */
export interface ResolvedLevel {
  index: number;
  notify: EscalationTarget;
  afterMinutes: number;
  people: Person[];
}

/** An `escalations` row as both stores hold it (the embedded SQLite file and the cluster's PostgreSQL). */
export interface EscalationRow {
  alert_id: string;
  chain: string;
  source: string;
  summary: string;
  started_at: number;
  level: number;
  level_started_at: number;
  reminders: number;
  next_at: number | null;
  state: EscalationState;
  stopped_reason: string | null;
  updated_at: number;
}

/** Escalation chains set per scope, the persisted escalation timers, and who fills each level. */
export class EscalationRepo {
  private readonly s;

  constructor(db: Db) {
    const person = 'SELECT DISTINCT w.id, w.name, w.role, w.phone FROM workers w';
    this.s = {
      settings: db.prepare('SELECT settings FROM escalation_settings WHERE level = ? AND code = ?').pluck(),
      putSettings: db.prepare(
        `INSERT INTO escalation_settings (level, code, settings, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(level, code) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at,
           updated_by = excluded.updated_by`,
      ),
      deleteSettings: db.prepare('DELETE FROM escalation_settings WHERE level = ? AND code = ?'),
      start: db.prepare(
        `INSERT OR REPLACE INTO escalations (alert_id, chain, source, summary, started_at, level, level_started_at,
           reminders, next_at, state, stopped_reason, updated_at)
         VALUES (@alert_id, @chain, @source, @summary, @started_at, @level, @level_started_at, @reminders, @next_at,
           @state, @stopped_reason, @updated_at)`,
      ),
      update: db.prepare(
        `UPDATE escalations SET level = @level, level_started_at = @level_started_at, reminders = @reminders,
           next_at = @next_at, state = @state, stopped_reason = @stopped_reason, updated_at = @updated_at
         WHERE alert_id = @alert_id`,
      ),
      get: db.prepare('SELECT * FROM escalations WHERE alert_id = ?'),
      due: db.prepare(
        `SELECT * FROM escalations WHERE state = 'active' AND next_at <= ? ORDER BY next_at, alert_id LIMIT ?`,
      ),
      nextDue: db.prepare(`SELECT min(next_at) FROM escalations WHERE state = 'active'`).pluck(),
      place: db.prepare(
        `SELECT g.code AS grid, c.code AS community, c.street AS street, st.district AS district FROM grids g
         JOIN communities c ON c.code = g.community LEFT JOIN streets st ON st.code = c.street WHERE g.code = ?`,
      ),
      householdPlace: db.prepare('SELECT building, unit FROM households WHERE id = ?'),
      neighbours: db.prepare(
        `${person} JOIN worker_places p ON p.worker_id = w.id
         WHERE w.role = ? AND p.level = ? AND p.code = ? ORDER BY w.id`,
      ),
      onGrid: db.prepare(
        `${person} JOIN worker_grids g ON g.worker_id = w.id WHERE g.grid = ? AND w.role = ? ORDER BY w.id`,
      ),
      inScope: db.prepare(
        `${person} JOIN worker_scopes s ON s.worker_id = w.id
         WHERE w.role = ? AND ((s.level = 'community' AND s.code = ?) OR (s.level = 'street' AND s.code = ?))
         ORDER BY w.id`,
      ),
      person: db.prepare('SELECT id, name, role, phone FROM workers WHERE id = ?'),
      exists: {
        street: db.prepare('SELECT 1 FROM streets WHERE code = ?').pluck(),
        community: db.prepare('SELECT 1 FROM communities WHERE code = ?').pluck(),
        grid: db.prepare('SELECT 1 FROM grids WHERE code = ?').pluck(),
        district: db.prepare('SELECT 1 FROM districts WHERE code = ?').pluck(),
        building: db.prepare('SELECT 1 FROM buildings WHERE code = ?').pluck(),
      },
      buildingGrid: db.prepare('SELECT grid FROM buildings WHERE code = ?').pluck(),
      streetDistrict: db.prepare('SELECT district FROM streets WHERE code = ?').pluck(),
      communityStreet: db.prepare('SELECT street FROM communities WHERE code = ?').pluck(),
    };
  }

  settings(level: EscalationScopeLevel, code: string): EscalationSettings | undefined {
    const raw = this.s.settings.get(level, code) as string | undefined;
    return raw === undefined ? undefined : (JSON.parse(raw) as EscalationSettings);
  }

  /** Replaces what one scope sets; an empty object removes the scope's settings. */
  putSettings(
    level: EscalationScopeLevel,
    code: string,
    settings: EscalationSettings,
    at: number,
    by: string,
  ): void {
    if (Object.keys(settings).length === 0) this.s.deleteSettings.run(level, code);
    else this.s.putSettings.run(level, code, JSON.stringify(settings), at, by);
  }

  /**
   * The chain an alert of `audience` in `grid` follows. Chains are set per scope like rules: the most
   * specific scope that sets one for the audience wins (building → grid → community → street → district →
   * global), as a whole; with none, the built-in default applies. The building scope needs the household.
   */
  effectiveChain(grid: string, audience: RuleAudience, householdId?: string): EffectiveChain {
    const place = this.place(grid);
    const building = householdId === undefined ? null : this.householdPlace(householdId).building;
    const scopes: [EscalationScopeLevel, string][] = [];
    if (building) scopes.push(['building', building]);
    if (place) {
      scopes.push(['grid', place.grid], ['community', place.community], ['street', place.street]);
      if (place.district) scopes.push(['district', place.district]);
    }
    scopes.push(['global', 'all']);
    for (const [level, code] of scopes) {
      const chain = this.settings(level, code)?.[audience];
      if (chain) return { chain, source: level === 'global' ? 'global' : `${level}:${code}` };
    }
    return { chain: DEFAULT_ESCALATION[audience], source: 'default' };
  }

  /**
   * Every level of a chain with its people for the grid; the neighbour levels (`unit-head`, `building-head`)
   * need the household, and without it nobody fills them.
   */
  resolveLevels(chain: EscalationChain, grid: string, householdId?: string): ResolvedLevel[] {
    const place = this.place(grid);
    const home =
      householdId === undefined ? { building: null, unit: null } : this.householdPlace(householdId);
    return chain.levels.map((l, index) => ({
      index,
      notify: l.notify,
      afterMinutes: l.afterMinutes,
      people: place ? this.people(l.notify, place, home) : [],
    }));
  }

  /** The building and unit of a household (nulls when unknown). */
  householdPlace(householdId: string): { building: string | null; unit: string | null } {
    return (
      (this.s.householdPlace.get(householdId) as
        { building: string | null; unit: string | null } | undefined) ?? {
        building: null,
        unit: null,
      }
    );
  }

  /** Starts (or, on reopen, restarts) an alert's escalation. */
  start(r: EscalationRecord): void {
    this.s.start.run(toRow(r));
  }

  update(r: EscalationRecord): void {
    this.s.update.run(toRow(r));
  }

  get(alertId: string): EscalationRecord | undefined {
    const row = this.s.get.get(alertId) as EscalationRow | undefined;
    return row && escalationFromRow(row);
  }

  due(now: number, limit = 200): EscalationRecord[] {
    return (this.s.due.all(now, limit) as EscalationRow[]).map(escalationFromRow);
  }

  /** When the earliest active escalation step is due. */
  nextDueAt(): number | undefined {
    return (this.s.nextDue.get() as number | null) ?? undefined;
  }

  place(grid: string): GridPlace | undefined {
    return this.s.place.get(grid) as GridPlace | undefined;
  }

  /** The people an escalation level names for a grid. */
  people(
    target: EscalationTarget,
    place: GridPlace,
    home: { building: string | null; unit: string | null } = { building: null, unit: null },
  ): Person[] {
    switch (target) {
      case 'unit-head':
        return home.unit === null ? [] : (this.s.neighbours.all('unit-head', 'unit', home.unit) as Person[]);
      case 'building-head':
        return home.building === null
          ? []
          : (this.s.neighbours.all('building-head', 'building', home.building) as Person[]);
      case 'grid-workers':
        return this.s.onGrid.all(place.grid, 'grid-worker') as Person[];
      case 'grid-leader':
        return this.s.onGrid.all(place.grid, 'grid-leader') as Person[];
      case 'community-staff':
        return this.s.inScope.all('community-staff', place.community, place.street) as Person[];
      case 'street-staff':
        return this.s.inScope.all('street-staff', '\u0000', place.street) as Person[];
    }
  }

  person(id: string): Person | undefined {
    return this.s.person.get(id) as Person | undefined;
  }

  scopeExists(level: Exclude<EscalationScopeLevel, 'global'>, code: string): boolean {
    return this.s.exists[level].get(code) !== undefined;
  }

  gridOfBuilding(code: string): string | undefined {
    return this.s.buildingGrid.get(code) as string | undefined;
  }

  districtOfStreet(code: string): string | null | undefined {
    return this.s.streetDistrict.get(code) as string | null | undefined;
  }

  streetOfCommunity(code: string): string | undefined {
    return this.s.communityStreet.get(code) as string | undefined;
  }
}

function toRow(r: EscalationRecord): EscalationRow {
  return {
    alert_id: r.alertId,
    chain: JSON.stringify(r.chain),
    source: r.source,
    summary: JSON.stringify(r.summary),
    started_at: r.startedAt,
    level: r.level,
    level_started_at: r.levelStartedAt,
    reminders: r.reminders,
    next_at: r.nextAt,
    state: r.state,
    stopped_reason: r.stoppedReason,
    updated_at: r.updatedAt,
  };
}

export function escalationFromRow(r: EscalationRow): EscalationRecord {
  return {
    alertId: r.alert_id,
    chain: JSON.parse(r.chain) as EscalationChain,
    source: r.source,
    summary: JSON.parse(r.summary) as AlertText,
    startedAt: r.started_at,
    level: r.level,
    levelStartedAt: r.level_started_at,
    reminders: r.reminders,
    nextAt: r.next_at,
    state: r.state,
    stoppedReason: r.stopped_reason,
    updatedAt: r.updated_at,
  };
}
