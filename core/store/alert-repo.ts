import type { Alert, AlertEvent, AlertState, Evidence, Outcome, TimelineEntry } from '../alerts.ts';
import type { RuleAudience, Severity } from '../rules.ts';
import type { Detection } from '../streams.ts';
import type { Db } from './open-store.ts';

/** An alert's row, as both stores hold it (same columns in SQLite and PostgreSQL). */
export interface AlertRow {
  id: string;
  household_id: string;
  grid: string;
  rule_id: string;
  severity: Severity;
  audience: RuleAudience;
  state: AlertState;
  opened_at: number;
  updated_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  resolved_at: number | null;
  resolved_by: string | null;
  outcome: Outcome | null;
  note: string | null;
  evidence: string;
}

/** A timeline entry joined with its alert's summary, as both stores return it. */
export interface FeedRow {
  id: number;
  at: number;
  kind: string;
  actor: string | null;
  detail: string;
  alertId: string;
  householdId: string;
  grid: string;
  ruleId: string;
  severity: Severity;
  state: AlertState;
}

export interface AlertFilter {
  state?: AlertState;
  grid?: string;
  householdId?: string;
  /** Only alerts of these grids (null or absent = all grids). */
  grids?: readonly string[] | null;
  /** Only alerts of these households (null or absent = all households). */
  householdIds?: readonly string[] | null;
  limit?: number;
}

/** Alerts, their timelines, and the detections already applied to them (idempotency). */
export class AlertRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO alerts (id, household_id, grid, rule_id, severity, audience, state, opened_at, updated_at,
           acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, note, evidence)
         VALUES (@id, @household_id, @grid, @rule_id, @severity, @audience, @state, @opened_at, @updated_at,
           @acknowledged_at, @acknowledged_by, @resolved_at, @resolved_by, @outcome, @note, @evidence)`,
      ),
      update: db.prepare(
        `UPDATE alerts SET state = @state, updated_at = @updated_at, acknowledged_at = @acknowledged_at,
           acknowledged_by = @acknowledged_by, resolved_at = @resolved_at, resolved_by = @resolved_by,
           outcome = @outcome, note = @note, evidence = @evidence, severity = @severity WHERE id = @id`,
      ),
      get: db.prepare('SELECT * FROM alerts WHERE id = ?'),
      open: db.prepare(`SELECT * FROM alerts WHERE household_id = ? AND rule_id = ? AND state <> 'resolved'`),
      latest: db.prepare(
        'SELECT * FROM alerts WHERE household_id = ? AND rule_id = ? ORDER BY opened_at DESC, rowid DESC LIMIT 1',
      ),
      timeline: db.prepare(
        'SELECT at, kind, actor, detail FROM alert_timeline WHERE alert_id = ? ORDER BY id',
      ),
      addTimeline: db.prepare(
        'INSERT INTO alert_timeline (alert_id, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)',
      ),
      latestTimelineId: db.prepare('SELECT coalesce(max(id), 0) FROM alert_timeline').pluck(),
      timelineSince: db.prepare(
        `SELECT t.id, t.at, t.kind, t.actor, t.detail, a.id AS alertId, a.household_id AS householdId, a.grid,
           a.rule_id AS ruleId, a.severity, a.state
         FROM alert_timeline t JOIN alerts a ON a.id = t.alert_id WHERE t.id > ? ORDER BY t.id LIMIT ?`,
      ),
      linkDetection: db.prepare('UPDATE detections SET alert_id = ? WHERE key = ?'),
      alertOfDetection: db.prepare('SELECT alert_id FROM detections WHERE key = ?').pluck(),
      recordDetection: db.prepare(
        'INSERT OR IGNORE INTO detections (key, household_id, rule_id, kind, at, alert_id) VALUES (?, ?, ?, ?, ?, ?)',
      ),
    };
  }

  insert(a: Alert): void {
    this.s.insert.run(toRow(a));
  }

  update(a: Alert): void {
    this.s.update.run(toRow(a));
  }

  get(id: string): Alert | undefined {
    const row = this.s.get.get(id) as AlertRow | undefined;
    return row && alertFromRow(row);
  }

  findOpen(householdId: string, ruleId: string): Alert | undefined {
    const row = this.s.open.get(householdId, ruleId) as AlertRow | undefined;
    return row && alertFromRow(row);
  }

  /** The household's most recently opened alert of the rule, in any state (the re-open window). */
  latest(householdId: string, ruleId: string): Alert | undefined {
    const row = this.s.latest.get(householdId, ruleId) as AlertRow | undefined;
    return row && alertFromRow(row);
  }

  list(filter: AlertFilter = {}): Alert[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.state) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.grid) {
      where.push('grid = ?');
      args.push(filter.grid);
    }
    if (filter.householdId) {
      where.push('household_id = ?');
      args.push(filter.householdId);
    }
    if (filter.grids) {
      if (filter.grids.length === 0) return [];
      where.push(`grid IN (${filter.grids.map(() => '?').join(',')})`);
      args.push(...filter.grids);
    }
    if (filter.householdIds) {
      if (filter.householdIds.length === 0) return [];
      where.push('household_id IN (SELECT value FROM json_each(?))');
      args.push(JSON.stringify(filter.householdIds));
    }
    const sql = `SELECT * FROM alerts ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY opened_at DESC, id LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit ?? 200) as AlertRow[]).map(alertFromRow);
  }

  timeline(alertId: string): TimelineEntry[] {
    return (
      this.s.timeline.all(alertId) as { at: number; kind: string; actor: string | null; detail: string }[]
    ).map((r) => ({
      at: r.at,
      kind: r.kind,
      actor: r.actor,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }

  /** Appends to the alert's timeline; returns the entry's id (increasing over all alerts). */
  addTimeline(alertId: string, entry: TimelineEntry): number {
    return Number(
      this.s.addTimeline.run(alertId, entry.at, entry.kind, entry.actor, JSON.stringify(entry.detail))
        .lastInsertRowid,
    );
  }

  latestTimelineId(): number {
    return this.s.latestTimelineId.get() as number;
  }

  /** Timeline entries of every alert after `afterId`, oldest first, with their alert's current summary. */
  timelineSince(afterId: number, limit: number): AlertEvent[] {
    return (this.s.timelineSince.all(afterId, limit) as FeedRow[]).map(alertEventFromRow);
  }

  /** Records that a detection was applied; false when it already was (re-processing after a restart). */
  /** Names the alert a recorded detection went to (an alert re-opened by it). */
  /** The alert a recorded detection was written to (null: none, or the alert it opened itself). */
  alertOfDetection(key: string): string | null {
    return (this.s.alertOfDetection.get(key) as string | null | undefined) ?? null;
  }

  linkDetection(key: string, alertId: string): void {
    this.s.linkDetection.run(alertId, key);
  }

  recordDetection(d: Detection, alertId: string | null): boolean {
    return this.s.recordDetection.run(d.key, d.householdId, d.ruleId, d.kind, d.at, alertId).changes === 1;
  }
}

function toRow(a: Alert): AlertRow {
  return {
    id: a.id,
    household_id: a.householdId,
    grid: a.gridCode,
    rule_id: a.ruleId,
    severity: a.severity,
    audience: a.audience,
    state: a.state,
    opened_at: a.openedAt,
    updated_at: a.updatedAt,
    acknowledged_at: a.acknowledgedAt,
    acknowledged_by: a.acknowledgedBy,
    resolved_at: a.resolvedAt,
    resolved_by: a.resolvedBy,
    outcome: a.outcome,
    note: a.note,
    evidence: JSON.stringify(a.evidence),
  };
}

export function alertEventFromRow(r: FeedRow): AlertEvent {
  return {
    id: r.id,
    at: r.at,
    kind: r.kind,
    actor: r.actor,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
    alert: {
      id: r.alertId,
      householdId: r.householdId,
      grid: r.grid,
      ruleId: r.ruleId,
      severity: r.severity,
      state: r.state,
    },
  };
}

export function alertFromRow(r: AlertRow): Alert {
  return {
    id: r.id,
    householdId: r.household_id,
    gridCode: r.grid,
    ruleId: r.rule_id,
    severity: r.severity,
    audience: r.audience,
    state: r.state,
    openedAt: r.opened_at,
    updatedAt: r.updated_at,
    acknowledgedAt: r.acknowledged_at,
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    outcome: r.outcome,
    note: r.note,
    evidence: JSON.parse(r.evidence) as Evidence,
  };
}
