import type { AlertState, Outcome } from '../alerts.ts';
import type { RuleAudience } from '../rules.ts';
import type { Db } from './open-store.ts';

/** The organisation levels reports roll up over, from a unit to a district. */
export const REPORT_LEVELS = ['district', 'street', 'community', 'grid', 'building', 'unit'] as const;
export type ReportLevel = (typeof REPORT_LEVELS)[number];

/** One alert with every level it rolls up to (null where the registry names none). */
export interface PlacedAlert {
  id: string;
  audience: RuleAudience;
  state: AlertState;
  outcome: Outcome | null;
  raisedAt: number;
  firstAcknowledgedAt: number | null;
  district: string | null;
  street: string | null;
  community: string | null;
  grid: string;
  building: string | null;
  unit: string | null;
}

/** The column of the roll-up's statement that names an alert's place at each level. */
export const REPORT_COLUMN: Record<ReportLevel, string> = {
  district: 'st.district',
  street: 'c.street',
  community: 'g.community',
  grid: 'a.grid',
  building: 'h.building',
  unit: 'h.unit',
};

/** Read-only queries for roll-up reports: alerts placed in the organisation tree, and its structure. */
export class ReportRepo {
  constructor(private readonly db: Db) {}

  /** Alerts opened in `[from, to)` (event time) whose place at `level` is `code`. */
  placedAlerts(level: ReportLevel, code: string, from: number, to: number): PlacedAlert[] {
    const sql = `SELECT a.id, a.audience, a.state, a.outcome,
        coalesce((SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'opened'),
          a.opened_at) AS raisedAt,
        (SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'acknowledged')
          AS firstAcknowledgedAt,
        st.district AS district, c.street AS street, g.community AS community, a.grid AS grid,
        h.building AS building, h.unit AS unit
      FROM alerts a
      LEFT JOIN households h ON h.id = a.household_id
      LEFT JOIN grids g ON g.code = a.grid
      LEFT JOIN communities c ON c.code = g.community
      LEFT JOIN streets st ON st.code = c.street
      WHERE ${REPORT_COLUMN[level]} = ? AND a.opened_at >= ? AND a.opened_at < ? ORDER BY a.opened_at, a.id`;
    return this.db.prepare(sql).all(code, from, to) as PlacedAlert[];
  }

  /** The entries one level below `level:code` (a unit has none). */
  children(level: ReportLevel, code: string): { level: ReportLevel; code: string; name: string }[] {
    const q: Record<ReportLevel, [ReportLevel, string] | null> = {
      district: ['street', 'SELECT code, name FROM streets WHERE district = ? ORDER BY code'],
      street: ['community', 'SELECT code, name FROM communities WHERE street = ? ORDER BY code'],
      community: ['grid', 'SELECT code, name FROM grids WHERE community = ? ORDER BY code'],
      grid: ['building', 'SELECT code, name FROM buildings WHERE grid = ? ORDER BY code'],
      building: ['unit', 'SELECT code, name FROM units WHERE building = ? ORDER BY code'],
      unit: null,
    };
    const child = q[level];
    if (!child) return [];
    return (this.db.prepare(child[1]).all(code) as { code: string; name: string }[]).map((r) => ({
      level: child[0],
      ...r,
    }));
  }

  /** The name and the grid / street of an entry (for access checks); undefined when it does not exist. */
  entry(
    level: ReportLevel,
    code: string,
  ): { name: string; grid: string | null; street: string | null } | undefined {
    const sql: Record<ReportLevel, string> = {
      district: 'SELECT name, NULL AS grid, NULL AS street FROM districts WHERE code = ?',
      street: 'SELECT name, NULL AS grid, code AS street FROM streets WHERE code = ?',
      community: 'SELECT name, NULL AS grid, street FROM communities WHERE code = ?',
      grid: 'SELECT name, code AS grid, NULL AS street FROM grids WHERE code = ?',
      building: 'SELECT name, grid, NULL AS street FROM buildings WHERE code = ?',
      unit: 'SELECT u.name, b.grid, NULL AS street FROM units u JOIN buildings b ON b.code = u.building WHERE u.code = ?',
    };
    return this.db.prepare(sql[level]).get(code) as
      { name: string; grid: string | null; street: string | null } | undefined;
  }

  streetsOfDistrict(code: string): string[] {
    return this.db.prepare('SELECT code FROM streets WHERE district = ?').pluck().all(code) as string[];
  }
}
