import type { Alert, AlertEvent, AlertText, TimelineEntry } from '../core/alerts.ts';
import type { AlertListItem, AlertPageFilter } from '../core/store/console-repo.ts';
import { migratePg, type PgPool } from '../core/postgres.ts';
import { alertEventFromRow, alertFromRow, type AlertRow, type FeedRow } from '../core/store/alert-repo.ts';
import type { Detection } from '../core/streams.ts';
import type { AlertFilter, AlertRepository } from './alert-repository.ts';
import { NOTIFIER_PG_MIGRATIONS } from './postgres-migrations.ts';

const ALERT_COLUMNS = `id, household_id, grid, rule_id, severity, audience, state, opened_at, updated_at,
  acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, note, evidence`;

/** The notifier's alerts on the shared PostgreSQL store: the embedded alerts' statements, one round trip each. */
export class PgAlertRepository implements AlertRepository<'async'> {
  private constructor(private readonly pool: PgPool) {}

  /** Migrates the notifier's tables and returns the repository. */
  static async open(pool: PgPool): Promise<PgAlertRepository> {
    await migratePg(pool, 'notifier', NOTIFIER_PG_MIGRATIONS);
    return new PgAlertRepository(pool);
  }

  private async one(sql: string, args: unknown[]): Promise<Alert | undefined> {
    const row = (await this.pool.query<AlertRow>(sql, args)).rows[0];
    return row && alertFromRow(row);
  }

  async insert(a: Alert): Promise<void> {
    await this.pool.query(
      `INSERT INTO alerts (${ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      toArgs(a),
    );
  }

  async update(a: Alert): Promise<void> {
    const [id, , , , severity, , state, , updatedAt, ackAt, ackBy, resAt, resBy, outcome, note, evidence] =
      toArgs(a);
    await this.pool.query(
      `UPDATE alerts SET state = $2, updated_at = $3, acknowledged_at = $4, acknowledged_by = $5, resolved_at = $6,
         resolved_by = $7, outcome = $8, note = $9, evidence = $10, severity = $11 WHERE id = $1`,
      [id, state, updatedAt, ackAt, ackBy, resAt, resBy, outcome, note, evidence, severity],
    );
  }

  /**
   * Acknowledges the alert if it is open, in one statement (a concurrent acknowledgement through another worker
   * finds it no longer open); false: it was not open.
   */
  async acknowledgeOpen(id: string, actor: string, at: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE alerts SET state = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2, updated_at = $3
       WHERE id = $1 AND state = 'open'`,
      [id, actor, at],
    );
    return rowCount === 1;
  }

  get(id: string): Promise<Alert | undefined> {
    return this.one(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = $1`, [id]);
  }

  /**
   * `FOR UPDATE`: in a transaction (a partition's batch), the row stays locked until it commits, so an
   * acknowledgement or an escalation step through another worker waits for the batch instead of being
   * overwritten by its update of the alert; alone (no transaction), the lock ends with the statement. The cluster
   * locks an alert before its escalation record, everywhere, so these never deadlock.
   */
  findOpen(householdId: string, ruleId: string): Promise<Alert | undefined> {
    return this.one(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE household_id = $1 AND rule_id = $2 AND state <> 'resolved'
       FOR UPDATE`,
      [householdId, ruleId],
    );
  }

  /** `FOR UPDATE`, as `findOpen`. */
  latest(householdId: string, ruleId: string): Promise<Alert | undefined> {
    return this.one(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE household_id = $1 AND rule_id = $2
       ORDER BY opened_at DESC, seq DESC LIMIT 1 FOR UPDATE`,
      [householdId, ruleId],
    );
  }

  /** The alert, locked until the caller's transaction ends (as `findOpen`). */
  lock(id: string): Promise<Alert | undefined> {
    return this.one(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = $1 FOR UPDATE`, [id]);
  }

  async list(filter: AlertFilter = {}): Promise<Alert[]> {
    if (filter.grids?.length === 0 || filter.householdIds?.length === 0) return [];
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts
       WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR grid = $2)
         AND ($3::text IS NULL OR household_id = $3) AND ($4::text[] IS NULL OR grid = ANY($4))
         AND ($5::text[] IS NULL OR household_id = ANY($5))
       ORDER BY opened_at DESC, id COLLATE "C" LIMIT $6`,
      [
        filter.state || null,
        filter.grid || null,
        filter.householdId || null,
        filter.grids ? [...filter.grids] : null,
        filter.householdIds ? [...filter.householdIds] : null,
        filter.limit ?? 200,
      ],
    );
    return rows.map(alertFromRow);
  }

  /**
   * A page of the alert list as the embedded console's (core/store/console-repo.ts `alertPage`): newest first, ties
   * by id, with the escalation level reached and the text the workers were sent; `address` is left to the caller,
   * who holds the registry.
   */
  async page(f: AlertPageFilter): Promise<Omit<AlertListItem, 'address'>[]> {
    if (f.grids?.length === 0 || f.householdIds?.length === 0) return [];
    const { rows } = await this.pool.query<AlertRow & { level: number | null; summary: string | null }>(
      `SELECT ${ALERT_COLUMNS.replace(/(\w+)/g, 'a.$1')}, e.level, e.summary
       FROM alerts a LEFT JOIN escalations e ON e.alert_id = a.id
       WHERE ($1::text IS NULL OR a.state = $1) AND ($2::text IS NULL OR a.grid = $2)
         AND ($3::text IS NULL OR a.household_id = $3) AND ($4::text[] IS NULL OR a.grid = ANY($4))
         AND ($5::text[] IS NULL OR a.household_id = ANY($5))
         AND ($6::bigint IS NULL OR a.opened_at < $6 OR (a.opened_at = $6 AND a.id COLLATE "C" > $7))
       ORDER BY a.opened_at DESC, a.id COLLATE "C" LIMIT $8`,
      [
        f.state ?? null,
        f.grid ?? null,
        f.householdId ?? null,
        f.grids ? [...f.grids] : null,
        f.householdIds ? [...f.householdIds] : null,
        f.after?.openedAt ?? null,
        f.after?.id ?? '',
        f.limit,
      ],
    );
    return rows.map((r) => ({
      ...alertFromRow(r),
      escalationLevel: r.level,
      message: r.summary === null ? null : (JSON.parse(r.summary) as AlertText),
    }));
  }

  async timeline(alertId: string): Promise<TimelineEntry[]> {
    const { rows } = await this.pool.query<{
      at: number;
      kind: string;
      actor: string | null;
      detail: string;
    }>('SELECT at, kind, actor, detail FROM alert_timeline WHERE alert_id = $1 ORDER BY id', [alertId]);
    return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  }

  async addTimeline(alertId: string, entry: TimelineEntry): Promise<number> {
    const { rows } = await this.pool.query<{ id: number }>(
      'INSERT INTO alert_timeline (alert_id, at, kind, actor, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      [alertId, entry.at, entry.kind, entry.actor, JSON.stringify(entry.detail)],
    );
    return rows[0]!.id;
  }

  async latestTimelineId(): Promise<number> {
    const { rows } = await this.pool.query<{ id: number }>(
      'SELECT coalesce(max(id), 0) AS id FROM alert_timeline',
    );
    return rows[0]!.id;
  }

  async timelineSince(afterId: number, limit: number): Promise<AlertEvent[]> {
    const { rows } = await this.pool.query<FeedRow>(
      `SELECT t.id, t.at, t.kind, t.actor, t.detail, a.id AS "alertId", a.household_id AS "householdId", a.grid,
         a.rule_id AS "ruleId", a.severity, a.state
       FROM alert_timeline t JOIN alerts a ON a.id = t.alert_id WHERE t.id > $1 ORDER BY t.id LIMIT $2`,
      [afterId, limit],
    );
    return rows.map(alertEventFromRow);
  }

  async recordDetection(d: Detection, alertId: string | null): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO detections (key, household_id, rule_id, kind, at, alert_id) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (key) DO NOTHING`,
      [d.key, d.householdId, d.ruleId, d.kind, d.at, alertId],
    );
    return rowCount === 1;
  }

  async alertOfDetection(key: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ alert_id: string | null }>(
      'SELECT alert_id FROM detections WHERE key = $1',
      [key],
    );
    return rows[0]?.alert_id ?? null;
  }

  async linkDetection(key: string, alertId: string): Promise<void> {
    await this.pool.query('UPDATE detections SET alert_id = $1 WHERE key = $2', [alertId, key]);
  }
}

function toArgs(a: Alert): unknown[] {
  return [
    a.id,
    a.householdId,
    a.gridCode,
    a.ruleId,
    a.severity,
    a.audience,
    a.state,
    a.openedAt,
    a.updatedAt,
    a.acknowledgedAt,
    a.acknowledgedBy,
    a.resolvedAt,
    a.resolvedBy,
    a.outcome,
    a.note,
    JSON.stringify(a.evidence),
  ];
}
