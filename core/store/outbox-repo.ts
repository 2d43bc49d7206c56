import type { Db } from './open-store.ts';

export type OutboxChannel = 'mqtt' | 'webhook';

/**
 * `pending` until an attempt succeeds or the message gives up (`failed`). MQTT messages become `sent` when the
 * broker took them and `received` when the worker app's client acknowledged them (PUBACK on a persistent
 * session); webhooks become `delivered` on a 2xx answer.
 */
export type OutboxState = 'pending' | 'sent' | 'received' | 'delivered' | 'failed';

export interface OutboxMessage {
  id: number;
  channel: OutboxChannel;
  /** MQTT: the worker id; webhook: the endpoint id. */
  target: string;
  /** MQTT: the topic; webhook: the endpoint URL when the message was queued (for people reading the table). */
  topic: string;
  payload: string;
  idempotencyKey: string;
  attempts: number;
  createdAt: number;
  alertId: string | null;
  /** Escalation level the message was sent for (0 = first level). */
  level: number | null;
  /** The person the message is for (null for a scope webhook). */
  recipient: string | null;
}

export type NewOutboxMessage = Omit<
  OutboxMessage,
  'id' | 'attempts' | 'createdAt' | 'alertId' | 'level' | 'recipient'
> &
  Partial<Pick<OutboxMessage, 'alertId' | 'level' | 'recipient'>>;

const COLUMNS = `id, channel, target, topic, payload, idempotency_key AS idempotencyKey, attempts,
  created_at AS createdAt, alert_id AS alertId, level, recipient`;

/** Messages to deliver, written in the same transaction as the alert change that caused them. */
export class OutboxRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      enqueue: db.prepare(
        `INSERT OR IGNORE INTO outbox (channel, target, topic, payload, idempotency_key, created_at, next_attempt_at,
           alert_id, level, recipient)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      waitingGroup: db.prepare(
        `SELECT ${COLUMNS} FROM outbox WHERE recipient = ? AND channel = ? AND target = ? AND state = 'pending'
           AND attempts = 0 AND next_attempt_at > ? AND idempotency_key LIKE 'group:%' ORDER BY id DESC LIMIT 1`,
      ),
      lastOpening: db
        .prepare(
          `SELECT max(created_at) FROM outbox WHERE recipient = ? AND channel = ? AND target = ? AND created_at > ?
             AND json_extract(payload, '$.event') IN ('opened', 'grouped')`,
        )
        .pluck(),
      setPayload: db.prepare(`UPDATE outbox SET payload = ? WHERE id = ? AND state = 'pending'`),
      due: db.prepare(
        `SELECT ${COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
      ),
      delivered: db.prepare(
        `UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'`,
      ),
      sent: db.prepare(
        `UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'`,
      ),
      received: db.prepare(
        `UPDATE outbox SET state = 'received', received_at = ? WHERE idempotency_key = ? AND state IN ('pending', 'sent')`,
      ),
      retry: db.prepare(
        'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      ),
      failed: db.prepare(
        `UPDATE outbox SET state = 'failed', failed_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'`,
      ),
      byKey: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE idempotency_key = ?`),
      unreceived: db.prepare(
        `SELECT ${COLUMNS} FROM outbox WHERE channel = 'mqtt' AND target = ? AND state = 'sent' AND created_at >= ?
         ORDER BY id LIMIT 1000`,
      ),
      recipients: db
        .prepare(`SELECT DISTINCT target FROM outbox WHERE alert_id = ? AND channel = 'mqtt' ORDER BY target`)
        .pluck(),
      byAlert: db.prepare(
        `SELECT ${COLUMNS}, state, last_error AS lastError FROM outbox WHERE alert_id = ? ORDER BY id`,
      ),
      pending: db.prepare(`SELECT count(*) FROM outbox WHERE state = 'pending'`).pluck(),
      nextAttempt: db
        .prepare(`SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending' AND next_attempt_at > ?`)
        .pluck(),
      states: db.prepare('SELECT state, count(*) AS n FROM outbox GROUP BY state'),
    };
  }

  /** Queues a message, due at `notBefore` (default now: a grouped message waits for its window). */
  enqueue(m: NewOutboxMessage, now: number, notBefore = now): boolean {
    return (
      this.s.enqueue.run(
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
      ).changes === 1
    );
  }

  /** A grouped message to this person on this channel and target that is still waiting for its window. */
  waitingGroup(
    recipient: string,
    channel: OutboxChannel,
    target: string,
    now: number,
  ): OutboxMessage | undefined {
    return this.s.waitingGroup.get(recipient, channel, target, now) as OutboxMessage | undefined;
  }

  /** When the last message about a new alert went to this person on this channel and target, since `since`. */
  lastOpeningAt(
    recipient: string,
    channel: OutboxChannel,
    target: string,
    since: number,
  ): number | undefined {
    return (this.s.lastOpening.get(recipient, channel, target, since) as number | null) ?? undefined;
  }

  /** Rewrites a waiting message (an alert joined its group). */
  setPayload(id: number, payload: string): void {
    this.s.setPayload.run(payload, id);
  }

  due(now: number, limit = 500): OutboxMessage[] {
    return this.s.due.all(now, limit) as OutboxMessage[];
  }

  /** A webhook answered 2xx. */
  markDelivered(id: number, at: number): boolean {
    return this.s.delivered.run(at, id).changes === 1;
  }

  /** The broker took an MQTT message; it waits for the worker app's receipt. */
  markSent(id: number, at: number): boolean {
    return this.s.sent.run(at, id).changes === 1;
  }

  /** The worker app's client acknowledged the MQTT message with this key; false if it already had. */
  markReceived(idempotencyKey: string, at: number): boolean {
    return this.s.received.run(at, idempotencyKey).changes === 1;
  }

  markRetry(id: number, nextAttemptAt: number, error: string): void {
    this.s.retry.run(nextAttemptAt, error, id);
  }

  /** Gave up: too many attempts or too old. */
  markFailed(id: number, at: number, error: string): boolean {
    return this.s.failed.run(at, error, id).changes === 1;
  }

  byKey(idempotencyKey: string): OutboxMessage | undefined {
    return this.s.byKey.get(idempotencyKey) as OutboxMessage | undefined;
  }

  /** MQTT messages to a worker the broker took but the worker app never acknowledged, queued since `since`. */
  unreceived(workerId: string, since: number): OutboxMessage[] {
    return this.s.unreceived.all(workerId, since) as OutboxMessage[];
  }

  /** Everyone an alert's MQTT messages went to so far. */
  recipientsOf(alertId: string): string[] {
    return this.s.recipients.all(alertId) as string[];
  }

  byAlert(alertId: string): (OutboxMessage & { state: OutboxState; lastError: string | null })[] {
    return this.s.byAlert.all(alertId) as (OutboxMessage & {
      state: OutboxState;
      lastError: string | null;
    })[];
  }

  /** When the next pending message falls due, after `now` (messages due already are not counted). */
  nextAttemptAfter(now: number): number | undefined {
    return (this.s.nextAttempt.get(now) as number | null) ?? undefined;
  }

  pendingCount(): number {
    return this.s.pending.get() as number;
  }

  countsByState(): Partial<Record<OutboxState, number>> {
    const rows = this.s.states.all() as { state: OutboxState; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
