import { migratePg, type PgPool } from '../core/postgres.ts';
import {
  escalationFromRow,
  type EscalationRecord,
  type EscalationRow,
} from '../core/store/escalation-repo.ts';
import { NOTIFIER_PG_MIGRATIONS } from './postgres-migrations.ts';

const COLUMNS = `alert_id, chain, source, summary, started_at, level, level_started_at, reminders, next_at, state,
  stopped_reason, updated_at`;

/**
 * The escalation records of cluster alerts on the shared PostgreSQL store (the embedded `escalations` rows). Any
 * worker runs any chain's due step: `claimDue` takes due records with a lease, and `lock` re-reads a claimed record
 * in the step's transaction, so a step runs once while its claimer lives and again on another worker once the
 * lease of a claimer that died has run out.
 */
export class PgEscalationRepository {
  private constructor(private readonly pool: PgPool) {}

  static async open(pool: PgPool): Promise<PgEscalationRepository> {
    await migratePg(pool, 'notifier', NOTIFIER_PG_MIGRATIONS);
    return new PgEscalationRepository(pool);
  }

  /** Starts (or, on reopen, restarts) an alert's chain. */
  async start(r: EscalationRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO escalations (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (alert_id) DO UPDATE SET chain = excluded.chain, source = excluded.source,
         summary = excluded.summary, started_at = excluded.started_at, level = excluded.level,
         level_started_at = excluded.level_started_at, reminders = excluded.reminders, next_at = excluded.next_at,
         state = excluded.state, stopped_reason = excluded.stopped_reason, updated_at = excluded.updated_at`,
      toArgs(r),
    );
  }

  async update(r: EscalationRecord): Promise<void> {
    await this.pool.query(
      `UPDATE escalations SET level = $2, level_started_at = $3, reminders = $4, next_at = $5, state = $6,
         stopped_reason = $7, updated_at = $8 WHERE alert_id = $1`,
      [r.alertId, r.level, r.levelStartedAt, r.reminders, r.nextAt, r.state, r.stoppedReason, r.updatedAt],
    );
  }

  /** Ends an active chain (acknowledged, resolved, cleared); false when it was not active. */
  async stop(alertId: string, reason: string, at: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE escalations SET state = 'stopped', stopped_reason = $2, next_at = NULL, updated_at = $3
       WHERE alert_id = $1 AND state = 'active'`,
      [alertId, reason, at],
    );
    return rowCount === 1;
  }

  async get(alertId: string): Promise<EscalationRecord | undefined> {
    const { rows } = await this.pool.query<EscalationRow>(
      `SELECT ${COLUMNS} FROM escalations WHERE alert_id = $1`,
      [alertId],
    );
    return rows[0] && escalationFromRow(rows[0]);
  }

  /** The record, locked until the caller's transaction ends (call inside one). */
  async lock(alertId: string): Promise<EscalationRecord | undefined> {
    const { rows } = await this.pool.query<EscalationRow>(
      `SELECT ${COLUMNS} FROM escalations WHERE alert_id = $1 FOR UPDATE`,
      [alertId],
    );
    return rows[0] && escalationFromRow(rows[0]);
  }

  /**
   * Claims up to `limit` active records whose step is due at `now`: their `nextAt` moves to `now + leaseMs`
   * (returned so), so no other worker claims them meanwhile. `SKIP LOCKED`: workers claiming at once take
   * different records, and a record whose step is running (locked) is not waited for.
   */
  async claimDue(now: number, leaseMs: number, limit = 100): Promise<EscalationRecord[]> {
    const { rows } = await this.pool.query<EscalationRow>(
      `UPDATE escalations SET next_at = $2
       WHERE alert_id IN (SELECT alert_id FROM escalations WHERE state = 'active' AND next_at <= $1
                          ORDER BY next_at, alert_id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [now, now + leaseMs, limit],
    );
    return rows.map(escalationFromRow);
  }
}

function toArgs(r: EscalationRecord): unknown[] {
  return [
    r.alertId,
    JSON.stringify(r.chain),
    r.source,
    JSON.stringify(r.summary),
    r.startedAt,
    r.level,
    r.levelStartedAt,
    r.reminders,
    r.nextAt,
    r.state,
    r.stoppedReason,
    r.updatedAt,
  ];
}
