import type { Alert, AlertState, AlertText, Evidence, Outcome } from '../alerts.ts';
import type { RuleAudience } from '../rules.ts';
import type { Db } from './open-store.ts';

/**
 * Read-only views across the registry, alerts and escalations for the console's lists and overview. Every
 * list pages with an opaque cursor (the sort key of the last item) instead of an offset, so a page costs the
 * same at the end of 300,000 households as at the start.
 */

/** An alert as a list shows it: the record's summary plus its household's address and escalation level. */
export interface AlertListItem extends Alert {
  address: string;
  /** Index of the escalation level the alert has reached (0 = the first); null without an escalation. */
  escalationLevel: number | null;
  /** What happened, in words (the text the workers were sent). */
  message: AlertText | null;
}

export interface AlertPageFilter {
  grids: readonly string[] | null;
  /** Households below the grid level (neighbours, family): only these, whatever the grids say. */
  householdIds?: readonly string[] | null;
  state?: AlertState;
  grid?: string;
  householdId?: string;
  /** Sort key of the last item of the previous page. */
  after?: { openedAt: number; id: string };
  limit: number;
}

export interface HouseholdListItem {
  id: string;
  gridCode: string;
  address: string;
  livesAlone: boolean;
  elderly: boolean;
  notes: string | null;
  /** End of the newest bucket with a known reading. */
  lastReadingAt: number | null;
  openAlerts: number;
  /** An open alert of a maintenance rule (the meter is silent or faulty). */
  meterSilent: boolean;
  /** Marked away now. */
  away: boolean;
}

export type RegistryKind = 'streets' | 'communities' | 'grids' | 'workers' | 'meters';

export interface GridFigures {
  grid: string;
  name: string;
  community: string;
  street: string;
  households: number;
  /** Open or acknowledged (not resolved) alerts by audience. */
  active: Record<RuleAudience, number>;
  /** Not yet acknowledged, by age: under 1 h, 1–24 h, over 24 h. */
  unacknowledgedByAge: [number, number, number];
  /** Not acknowledged and already escalated past the chain's first level. */
  overdue: number;
  /** Active alerts of maintenance rules (silent or faulty meters). */
  silentMeters: number;
}

/** One alert as the assessment needs it. */
/** An alert open or acknowledged now (the overview's figures are counted from these). */
export interface ActiveAlert {
  grid: string;
  audience: RuleAudience;
  state: AlertState;
  openedAt: number;
  level: number;
}

/**
 * Today's figures of the grids (null = all) from their places and the active alerts: by audience, the
 * unacknowledged by age, the overdue (past their chain's first level), the silent meters.
 */
export function gridFiguresOf(
  places: readonly Pick<GridFigures, 'grid' | 'name' | 'community' | 'street' | 'households'>[],
  active: readonly ActiveAlert[],
  grids: readonly string[] | null,
  now: number,
): GridFigures[] {
  const wanted = grids ? new Set(grids) : null;
  const byGrid = new Map<string, GridFigures>();
  for (const p of places) {
    if (wanted && !wanted.has(p.grid)) continue;
    byGrid.set(p.grid, {
      ...p,
      active: { welfare: 0, leak: 0, maintenance: 0 },
      unacknowledgedByAge: [0, 0, 0],
      overdue: 0,
      silentMeters: 0,
    });
  }
  for (const r of active) {
    const g = byGrid.get(r.grid);
    if (!g || !AUDIENCES.includes(r.audience)) continue;
    g.active[r.audience]++;
    if (r.audience === 'maintenance') g.silentMeters++;
    if (r.state !== 'open') continue;
    const age = now - r.openedAt;
    g.unacknowledgedByAge[age < 3_600_000 ? 0 : age < 86_400_000 ? 1 : 2]++;
    if (r.level > 0) g.overdue++;
  }
  return [...byGrid.values()];
}

export interface AssessmentFacts {
  id: string;
  grid: string;
  audience: RuleAudience;
  state: AlertState;
  outcome: Outcome | null;
  raisedAt: number;
  firstAckAt: number | null;
  firstAckBy: string | null;
  resolvedAt: number | null;
  firstEscalatedAt: number | null;
}

const AUDIENCES: RuleAudience[] = ['welfare', 'leak', 'maintenance'];
/** Timeline kinds that change what the overview and assessment show. */
export const FIGURE_EVENTS = [
  'opened',
  'acknowledged',
  'resolved',
  'auto-resolved',
  'reopened',
  'escalated',
  'escalation-skipped',
  'escalation-exhausted',
] as const;

export class ConsoleRepo {
  constructor(private readonly db: Db) {}

  alertPage(f: AlertPageFilter): AlertListItem[] {
    if (f.grids && f.grids.length === 0) return [];
    if (f.householdIds && f.householdIds.length === 0) return [];
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.state) {
      where.push('a.state = ?');
      args.push(f.state);
    }
    if (f.grid) {
      where.push('a.grid = ?');
      args.push(f.grid);
    }
    if (f.householdId) {
      where.push('a.household_id = ?');
      args.push(f.householdId);
    }
    if (f.grids) {
      where.push(`a.grid IN (${f.grids.map(() => '?').join(',')})`);
      args.push(...f.grids);
    }
    if (f.householdIds) {
      where.push('a.household_id IN (SELECT value FROM json_each(?))');
      args.push(JSON.stringify(f.householdIds));
    }
    if (f.after) {
      where.push('(a.opened_at < ? OR (a.opened_at = ? AND a.id > ?))');
      args.push(f.after.openedAt, f.after.openedAt, f.after.id);
    }
    const sql = `SELECT a.id, a.household_id AS householdId, a.grid AS gridCode, a.rule_id AS ruleId, a.severity,
        a.audience, a.state, a.opened_at AS openedAt, a.updated_at AS updatedAt, a.acknowledged_at AS acknowledgedAt,
        a.acknowledged_by AS acknowledgedBy, a.resolved_at AS resolvedAt, a.resolved_by AS resolvedBy, a.outcome,
        a.note, a.evidence,
        coalesce(h.address, '') AS address, e.level AS escalationLevel, e.summary AS message
      FROM alerts a LEFT JOIN households h ON h.id = a.household_id LEFT JOIN escalations e ON e.alert_id = a.id
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY a.opened_at DESC, a.id LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, f.limit) as (Omit<
      AlertListItem,
      'message' | 'evidence'
    > & {
      message: string | null;
      evidence: string;
    })[];
    return rows.map((r) => ({
      ...r,
      evidence: JSON.parse(r.evidence) as Evidence,
      message: r.message === null ? null : (JSON.parse(r.message) as AlertText),
    }));
  }

  /** Households of the grids (null = all), by id, optionally whose address or id contains `search`. */
  householdPage(
    grids: readonly string[] | null,
    opts: {
      /** Only these households (below the grid level), whatever the grids say. */
      householdIds?: readonly string[];
      grid?: string;
      search?: string;
      afterId?: string;
      limit: number;
      now: number;
    },
  ): HouseholdListItem[] {
    if (grids && grids.length === 0) return [];
    if (opts.householdIds && opts.householdIds.length === 0) return [];
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (opts.householdIds) {
      where.push('h.id IN (SELECT value FROM json_each(?))');
      args.push(JSON.stringify(opts.householdIds));
    }
    if (grids) {
      // Many grids (a street's): walk households in id order and filter, instead of sorting every match.
      where.push(`${grids.length > 20 ? '+' : ''}h.grid IN (${grids.map(() => '?').join(',')})`);
      args.push(...grids);
    }
    if (opts.grid) {
      where.push('h.grid = ?');
      args.push(opts.grid);
    }
    if (opts.search) {
      where.push(`(h.address LIKE ? ESCAPE '\\' OR h.id LIKE ? ESCAPE '\\')`);
      const pattern = `%${likeEscape(opts.search)}%`;
      args.push(pattern, pattern);
    }
    if (opts.afterId !== undefined) {
      where.push('h.id > ?');
      args.push(opts.afterId);
    }
    const sql = `SELECT h.id, h.grid AS gridCode, h.address, h.lives_alone AS livesAlone, h.elderly, h.notes,
        (SELECT max(u.end) FROM usage_buckets u WHERE u.household_id = h.id AND u.liters IS NOT NULL) AS lastReadingAt,
        (SELECT count(*) FROM alerts a WHERE a.household_id = h.id AND a.state <> 'resolved') AS openAlerts,
        EXISTS (SELECT 1 FROM alerts a WHERE a.household_id = h.id AND a.state <> 'resolved'
          AND a.audience = 'maintenance') AS meterSilent,
        (coalesce(h.away_until, 0) > ? OR EXISTS (SELECT 1 FROM away_periods p WHERE p.household_id = h.id
          AND p.cleared_at IS NULL AND p.from_at <= ? AND p.until > ?)) AS away
      FROM households h ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY h.id LIMIT ?`;
    const rows = this.db.prepare(sql).all(opts.now, opts.now, opts.now, ...args, opts.limit) as (Omit<
      HouseholdListItem,
      'livesAlone' | 'elderly' | 'meterSilent' | 'away'
    > & { livesAlone: number; elderly: number; meterSilent: number; away: number })[];
    return rows.map((r) => ({
      ...r,
      livesAlone: r.livesAlone === 1,
      elderly: r.elderly === 1,
      meterSilent: r.meterSilent === 1,
      away: r.away === 1,
    }));
  }

  /** One page of a registry list, restricted to what touches the grids (null = all). */
  registryPage(
    kind: RegistryKind,
    grids: readonly string[] | null,
    opts: { search?: string; after?: string; limit: number },
  ): Record<string, unknown>[] {
    if (grids && grids.length === 0) return [];
    const inGrids = (col: string) => (grids ? `${col} IN (${grids.map(() => '?').join(',')})` : '1');
    const gridArgs = grids ?? [];
    const search = opts.search ? `%${likeEscape(opts.search)}%` : undefined;
    const q = (cols: string[]) =>
      search ? `(${cols.map((c) => `${c} LIKE ? ESCAPE '\\'`).join(' OR ')})` : '1';
    const qArgs = (n: number) => (search ? Array<string>(n).fill(search) : []);
    const after = opts.after === undefined ? '1' : 'key > ?';
    const afterArgs = opts.after === undefined ? [] : [opts.after];
    let sql: string;
    let args: (string | number)[];
    switch (kind) {
      case 'streets':
        sql = `SELECT * FROM (SELECT s.code AS key, s.code, s.name,
            (SELECT count(*) FROM communities c WHERE c.street = s.code) AS communities FROM streets s
          WHERE EXISTS (SELECT 1 FROM communities c JOIN grids g ON g.community = c.code
            WHERE c.street = s.code AND ${inGrids('g.code')}) AND ${q(['s.code', 's.name'])})`;
        args = [...gridArgs, ...qArgs(2)];
        break;
      case 'communities':
        sql = `SELECT * FROM (SELECT c.code AS key, c.code, c.name, c.street,
            (SELECT count(*) FROM grids g WHERE g.community = c.code) AS grids FROM communities c
          WHERE EXISTS (SELECT 1 FROM grids g WHERE g.community = c.code AND ${inGrids('g.code')})
            AND ${q(['c.code', 'c.name'])})`;
        args = [...gridArgs, ...qArgs(2)];
        break;
      case 'grids':
        sql = `SELECT * FROM (SELECT g.code AS key, g.code, g.name, g.community,
            (SELECT count(*) FROM households h WHERE h.grid = g.code) AS households FROM grids g
          WHERE ${inGrids('g.code')} AND ${q(['g.code', 'g.name'])})`;
        args = [...gridArgs, ...qArgs(2)];
        break;
      case 'workers':
        sql = `SELECT * FROM (SELECT w.id AS key, w.id, w.name, w.role,
            (SELECT group_concat(grid, ' ') FROM worker_grids x WHERE x.worker_id = w.id) AS grids,
            (SELECT group_concat(code, ' ') FROM worker_scopes s WHERE s.worker_id = w.id) AS areas
          FROM workers w WHERE (EXISTS (SELECT 1 FROM worker_grids x WHERE x.worker_id = w.id AND ${inGrids('x.grid')})
            OR EXISTS (SELECT 1 FROM worker_scopes s JOIN communities c ON (s.level = 'community' AND c.code = s.code)
              OR (s.level = 'street' AND c.street = s.code) JOIN grids g ON g.community = c.code
              WHERE s.worker_id = w.id AND ${inGrids('g.code')}))
            AND ${q(['w.id', 'w.name'])})`;
        args = [...gridArgs, ...gridArgs, ...qArgs(2)];
        break;
      case 'meters':
        sql = `SELECT * FROM (SELECT m.id AS key, m.id, m.household, h.address, h.grid, m.active,
            m.report_every_minutes AS reportEveryMinutes
          FROM meters m JOIN households h ON h.id = m.household WHERE ${inGrids('h.grid')}
            AND ${q(['m.id', 'm.household', 'h.address'])})`;
        args = [...gridArgs, ...qArgs(3)];
        break;
    }
    return this.db
      .prepare(`${sql} WHERE ${after} ORDER BY key LIMIT ?`)
      .all(...args, ...afterArgs, opts.limit) as Record<string, unknown>[];
  }

  private places:
    | { revision: string; rows: Pick<GridFigures, 'grid' | 'name' | 'community' | 'street' | 'households'>[] }
    | undefined;

  /** Every grid with its place and household count, cached until the registry's revision changes. */
  gridPlaces(revision: string): Pick<GridFigures, 'grid' | 'name' | 'community' | 'street' | 'households'>[] {
    if (this.places?.revision !== revision) {
      const counts = new Map(
        (
          this.db.prepare('SELECT grid, count(*) AS n FROM households GROUP BY grid').all() as {
            grid: string;
            n: number;
          }[]
        ).map((r) => [r.grid, r.n]),
      );
      const rows = this.db
        .prepare(
          `SELECT g.code AS grid, g.name, g.community, c.street FROM grids g JOIN communities c ON c.code = g.community
          ORDER BY g.code`,
        )
        .all() as Pick<GridFigures, 'grid' | 'name' | 'community' | 'street'>[];
      this.places = { revision, rows: rows.map((r) => ({ ...r, households: counts.get(r.grid) ?? 0 })) };
    }
    return this.places.rows;
  }

  /** Today's figures of every grid (null = all) for the overview. */
  gridFigures(grids: readonly string[] | null, now: number, revision: string): GridFigures[] {
    if (grids && grids.length === 0) return [];
    return gridFiguresOf(this.gridPlaces(revision), this.activeAlerts(), grids, now);
  }

  /** The alerts open or acknowledged now, with the escalation level each has reached. */
  activeAlerts(): ActiveAlert[] {
    return this.db
      .prepare(
        // Both from covering indexes: the active alerts' partial index, each level one seek (no JSON read).
        `SELECT a.grid, a.audience, a.state, a.opened_at AS openedAt,
          coalesce((SELECT e.level FROM escalations e INDEXED BY escalations_level WHERE e.alert_id = a.id), 0) AS level
        FROM alerts a WHERE a.state <> 'resolved' AND a.state IN ('open', 'acknowledged')`,
      )
      .all() as ActiveAlert[];
  }

  /** The alerts raised in `[from, to)` in the grids (null = all), with acknowledgement and escalation times. */
  assessmentFacts(from: number, to: number, grids: readonly string[] | null): AssessmentFacts[] {
    if (grids && grids.length === 0) return [];
    // A street's thousand grids: filter after the period's scan rather than probing each grid.
    if (grids && grids.length > 50) {
      const wanted = new Set(grids);
      return this.assessmentFacts(from, to, null).filter((f) => wanted.has(f.grid));
    }
    const inGrids = grids ? `AND a.grid IN (${grids.map(() => '?').join(',')})` : '';
    // Each alert of the period from the covering index, each first event one seek in the timeline's index.
    const earliest = (kind: string) =>
      `(SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = '${kind}')`;
    const firstAck = (column: 'at' | 'actor') =>
      `(SELECT t.${column} FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'acknowledged' ORDER BY t.id LIMIT 1)`;
    const sql = `SELECT a.id, a.grid, a.audience, a.state, a.outcome, a.resolved_at AS resolvedAt,
        coalesce(${earliest('opened')}, a.opened_at) AS raisedAt,
        ${firstAck('at')} AS firstAckAt, ${firstAck('actor')} AS firstAckBy,
        ${earliest('escalated')} AS firstEscalatedAt
      FROM alerts a WHERE a.opened_at >= ? AND a.opened_at < ? ${inGrids}`;
    return this.db.prepare(sql).all(from, to, ...(grids ?? [])) as AssessmentFacts[];
  }

  /**
   * Changes with every alert event that changes an alert's state, level or figures (opening, acknowledgement,
   * escalation, closing, reopening: each writes a timeline entry), not with deliveries, reminders or
   * comments: answers computed from alerts stay valid while it is unchanged. One index seek per kind.
   */
  alertsRevision(): string {
    const latest = this.db.prepare('SELECT max(id) FROM alert_timeline WHERE kind = ?').pluck();
    return FIGURE_EVENTS.map((kind) => (latest.get(kind) as number | null) ?? 0).join('.');
  }

  /** Grid workers of the grids (null = all) with their grids. */
  gridWorkers(grids: readonly string[] | null): { id: string; name: string; grid: string }[] {
    if (grids && grids.length === 0) return [];
    const inGrids = grids ? `AND x.grid IN (${grids.map(() => '?').join(',')})` : '';
    return this.db
      .prepare(
        `SELECT w.id, w.name, x.grid FROM workers w JOIN worker_grids x ON x.worker_id = w.id
        WHERE w.role = 'grid-worker' ${inGrids} ORDER BY w.id`,
      )
      .all(...(grids ?? [])) as { id: string; name: string; grid: string }[];
  }
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}
