import type { Db } from './open-store.ts';

export interface OutboxMessage {
  id: number;
  channel: 'mqtt';
  target: string;
  topic: string;
  payload: string;
  idempotencyKey: string;
  attempts: number;
}

/** Messages to deliver, written in the same transaction as the alert change that caused them. */
export class OutboxRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      enqueue: db.prepare(
        `INSERT OR IGNORE INTO outbox (channel, target, topic, payload, idempotency_key, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      due: db.prepare(
        `SELECT id, channel, target, topic, payload, idempotency_key AS idempotencyKey, attempts FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?`,
      ),
      delivered: db.prepare(
        `UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1 WHERE id = ?`,
      ),
      retry: db.prepare(
        'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      ),
      pending: db.prepare(`SELECT count(*) FROM outbox WHERE state = 'pending'`).pluck(),
    };
  }

  enqueue(m: Omit<OutboxMessage, 'id' | 'attempts'>, now: number): boolean {
    return (
      this.s.enqueue.run(m.channel, m.target, m.topic, m.payload, m.idempotencyKey, now, now).changes === 1
    );
  }

  due(now: number, limit = 500): OutboxMessage[] {
    return this.s.due.all(now, limit) as OutboxMessage[];
  }

  markDelivered(id: number, at: number): void {
    this.s.delivered.run(at, id);
  }

  markRetry(id: number, nextAttemptAt: number, error: string): void {
    this.s.retry.run(nextAttemptAt, error, id);
  }

  pendingCount(): number {
    return this.s.pending.get() as number;
  }
}
