import { migratePg, type PgPool } from '../core/postgres.ts';
import type {
  NewOutboxMessage,
  OutboxChannel,
  OutboxMessage,
  OutboxRecord,
  OutboxRepository,
  OutboxState,
} from './outbox-repository.ts';
import { NOTIFIER_PG_MIGRATIONS } from './postgres-migrations.ts';

const COLUMNS = `id, channel, target, topic, payload, idempotency_key AS "idempotencyKey", attempts,
  created_at AS "createdAt", alert_id AS "alertId", level, recipient`;

/** The notifier's outbox on the shared PostgreSQL store: the embedded outbox's statements, one round trip each. */
export class PgOutboxRepository implements OutboxRepository<'async'> {
  private constructor(private readonly pool: PgPool) {}

  /** Migrates the notifier's tables and returns the repository. */
  static async open(pool: PgPool): Promise<PgOutboxRepository> {
    await migratePg(pool, 'notifier', NOTIFIER_PG_MIGRATIONS);
    return new PgOutboxRepository(pool);
  }

  private async rows<T extends object>(sql: string, args: unknown[]): Promise<T[]> {
    return (await this.pool.query<T>(sql, args)).rows;
  }

  private async changed(sql: string, args: unknown[]): Promise<boolean> {
    return (await this.pool.query(sql, args)).rowCount === 1;
  }

  async enqueue(m: NewOutboxMessage, now: number, notBefore = now): Promise<boolean> {
    return this.changed(
      `INSERT INTO outbox (channel, target, topic, payload, idempotency_key, created_at, next_attempt_at,
         alert_id, level, recipient)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        m.channel,
        m.target,
        m.topic,
        m.payload,
        m.idempotencyKey,
        now,
        notBefore,
        m.alertId ?? null,
        m.level ?? null,
        m.recipient ?? null,
      ],
    );
  }

  async waitingGroup(
    recipient: string,
    channel: OutboxChannel,
    target: string,
    now: number,
  ): Promise<OutboxMessage | undefined> {
    const [row] = await this.rows<OutboxMessage>(
      // Locked: two transactions adding to one group wait for each other, and a relay's claim skips it meanwhile.
      `SELECT ${COLUMNS} FROM outbox WHERE recipient = $1 AND channel = $2 AND target = $3 AND state = 'pending'
         AND attempts = 0 AND claimed_at IS NULL AND next_attempt_at > $4 AND idempotency_key LIKE 'group:%'
         ORDER BY id DESC LIMIT 1 FOR UPDATE`,
      [recipient, channel, target, now],
    );
    return row;
  }

  async lastOpeningAt(
    recipient: string,
    channel: OutboxChannel,
    target: string,
    since: number,
  ): Promise<number | undefined> {
    const [row] = await this.rows<{ at: number | null }>(
      `SELECT max(created_at) AS at FROM outbox WHERE recipient = $1 AND channel = $2 AND target = $3
         AND created_at > $4 AND (payload::jsonb ->> 'event') IN ('opened', 'grouped')`,
      [recipient, channel, target, since],
    );
    return row?.at ?? undefined;
  }

  async setPayload(id: number, payload: string): Promise<void> {
    await this.pool.query(`UPDATE outbox SET payload = $1 WHERE id = $2 AND state = 'pending'`, [
      payload,
      id,
    ]);
  }

  async due(now: number, limit = 500): Promise<OutboxMessage[]> {
    return this.rows<OutboxMessage>(
      `SELECT ${COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1
       ORDER BY next_attempt_at, id LIMIT $2`,
      [now, limit],
    );
  }

  /**
   * Claims up to `limit` pending messages due at `now` for one sender among many (cluster workers): each is
   * moved `leaseMs` into the future, so no other sender takes it meanwhile, and a sender that dies before
   * marking it leaves it due again once the lease runs out. `SKIP LOCKED`: senders claiming at the same moment
   * take different messages instead of waiting for each other.
   */
  async claimDue(now: number, leaseMs: number, limit = 100): Promise<OutboxMessage[]> {
    return this.rows<OutboxMessage>(
      `UPDATE outbox SET next_attempt_at = $2, claimed_at = coalesce(claimed_at, $1)
       WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1
                    ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [now, now + leaseMs, limit],
    );
  }

  async markDelivered(id: number, at: number): Promise<boolean> {
    return this.changed(
      `UPDATE outbox SET state = 'delivered', delivered_at = $1, attempts = attempts + 1
       WHERE id = $2 AND state = 'pending'`,
      [at, id],
    );
  }

  async markSent(id: number, at: number): Promise<boolean> {
    return this.changed(
      `UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1 WHERE id = $2 AND state = 'pending'`,
      [at, id],
    );
  }

  async markReceived(idempotencyKey: string, at: number): Promise<boolean> {
    return this.changed(
      `UPDATE outbox SET state = 'received', received_at = $1
       WHERE idempotency_key = $2 AND state IN ('pending', 'sent')`,
      [at, idempotencyKey],
    );
  }

  async markRetry(id: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.pool.query(
      'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3',
      [nextAttemptAt, error, id],
    );
  }

  async markFailed(id: number, at: number, error: string): Promise<boolean> {
    return this.changed(
      `UPDATE outbox SET state = 'failed', failed_at = $1, attempts = attempts + 1, last_error = $2
       WHERE id = $3 AND state = 'pending'`,
      [at, error, id],
    );
  }

  async byKey(idempotencyKey: string): Promise<OutboxMessage | undefined> {
    const [row] = await this.rows<OutboxMessage>(`SELECT ${COLUMNS} FROM outbox WHERE idempotency_key = $1`, [
      idempotencyKey,
    ]);
    return row;
  }

  async unreceived(workerId: string, since: number): Promise<OutboxMessage[]> {
    return this.rows<OutboxMessage>(
      `SELECT ${COLUMNS} FROM outbox WHERE channel = 'mqtt' AND target = $1 AND state = 'sent' AND created_at >= $2
       ORDER BY id LIMIT 1000`,
      [workerId, since],
    );
  }

  async recipientsOf(alertId: string): Promise<string[]> {
    const rows = await this.rows<{ target: string }>(
      `SELECT target FROM outbox WHERE alert_id = $1 AND channel = 'mqtt' GROUP BY target ORDER BY target COLLATE "C"`,
      [alertId],
    );
    return rows.map((r) => r.target);
  }

  async byAlert(alertId: string): Promise<OutboxRecord[]> {
    return this.rows<OutboxRecord>(
      `SELECT ${COLUMNS}, state, last_error AS "lastError" FROM outbox WHERE alert_id = $1 ORDER BY id`,
      [alertId],
    );
  }

  async nextAttemptAfter(now: number): Promise<number | undefined> {
    const [row] = await this.rows<{ at: number | null }>(
      `SELECT min(next_attempt_at) AS at FROM outbox WHERE state = 'pending' AND next_attempt_at > $1`,
      [now],
    );
    return row?.at ?? undefined;
  }

  async pendingCount(): Promise<number> {
    const [row] = await this.rows<{ n: number }>(
      `SELECT count(*) AS n FROM outbox WHERE state = 'pending'`,
      [],
    );
    return row!.n;
  }

  async countsByState(): Promise<Partial<Record<OutboxState, number>>> {
    const rows = await this.rows<{ state: OutboxState; n: number }>(
      'SELECT state, count(*) AS n FROM outbox GROUP BY state',
      [],
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
