import { z } from 'zod';
import {
  notTheirs,
  WORKER_ACK_TOPIC,
  WORKER_RECEIPT_TOPIC,
  workerOfAppTopic,
  type WorkerPort,
  type WorkerRefusal,
} from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import { isCareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { MqttPublisher } from '../core/streams.ts';
import type { AlertService } from './alert-service.ts';
import { mayAcknowledge, parseAckPayload } from './worker-ack.ts';

/** The parts of the embedded store the worker inbox uses: alerts, who may acknowledge them, and the outbox. */
export type WorkerInboxTables = Pick<
  Store,
  'alerts' | 'outbox' | 'escalation' | 'access' | 'transaction' | 'db'
>;

const Delivered = z.looseObject({ messageId: z.string().min(1).max(200) });

/** The messageId of a delivered message or of an app's receipt; undefined when there is none. */
export function receiptOf(payload: Buffer): string | undefined {
  try {
    const parsed = Delivered.safeParse(JSON.parse(payload.toString('utf8')));
    return parsed.success ? parsed.data.messageId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What worker apps send and confirm over MQTT:
 *
 * - `workers/{id}/alerts/{alertId}/ack` (empty payload or `{ "note" }`) acknowledges an alert of the
 *   worker's grids or area, like `POST /api/alerts/:id/ack`;
 * - the PUBACK of a message on `workers/{id}/alerts` (persistent session) is its delivery receipt, and so is a
 *   `{ "messageId" }` the app publishes on `workers/{id}/received` (what apps send where the broker does not tell
 *   careflow about PUBACKs: an external broker, a cluster's RabbitMQ);
 * - a resubscription on a persistent session the broker did not have (it restarted, or the app is new) gets
 *   every message the app never confirmed again, up to `redeliverMaxAgeMinutes` old.
 */
export class WorkerInbox implements WorkerPort {
  constructor(
    private readonly store: WorkerInboxTables,
    private readonly clock: Clock,
    private readonly alerts: AlertService,
    private readonly publisher: MqttPublisher,
    private readonly logger: Logger,
    private readonly redeliverMaxAgeMinutes: number,
    private readonly onChanged: () => void = () => {},
  ) {}

  accepts(workerId: string, topic: string): boolean {
    return workerOfAppTopic(topic) === workerId;
  }

  publish(workerId: string, topic: string, payload: Buffer): WorkerRefusal | undefined {
    if (WORKER_RECEIPT_TOPIC.test(topic)) {
      const messageId = receiptOf(payload);
      if (messageId === undefined)
        return {
          code: 'ERR_API_VALIDATION',
          message: 'a receipt is {"messageId": "<the message\'s messageId>"}',
        };
      this.receivedId(workerId, messageId);
      return undefined;
    }
    const alertId = WORKER_ACK_TOPIC.exec(topic)?.[2] ?? '';
    const body = parseAckPayload(payload);
    if ('error' in body) return { code: 'ERR_API_VALIDATION', message: body.error };
    const { note } = body;
    const alert = this.store.alerts.get(alertId);
    if (!alert) return notTheirs(alertId);
    if (!mayAcknowledge(this.store, workerId, alert.gridCode, alert.householdId)) {
      return {
        code: 'ERR_BROKER_TOPIC_FORBIDDEN',
        message: `worker ${workerId} may not acknowledge alert ${alertId}: it is outside their grids or area`,
        answer: notTheirs(alertId),
      };
    }
    if (alert.state === 'acknowledged' && alert.acknowledgedBy === workerId) return undefined; // a repeat
    try {
      this.store.transaction(() => {
        this.alerts.acknowledge(alertId, workerId, 'mqtt');
        if (note) this.alerts.comment(alertId, workerId, note);
      });
      this.logger.info({ alertId, workerId }, 'alert acknowledged from the worker app');
      return undefined;
    } catch (err) {
      if (isCareflowError(err) && err.code === 'ERR_ALERT_STATE_CONFLICT') {
        return { code: err.code, message: err.message };
      }
      this.logger.error({ err, alertId, workerId }, 'acknowledgement from the worker app failed');
      return { code: 'ERR_INTERNAL', message: 'the acknowledgement could not be recorded' };
    }
  }

  received(workerId: string, payload: Buffer): void {
    const messageId = receiptOf(payload);
    if (messageId !== undefined) this.receivedId(workerId, messageId);
  }

  /** Records that the worker's app has the message (its first receipt; repeats change nothing). */
  private receivedId(workerId: string, messageId: string): void {
    if (!this.store.db.open) return;
    const key = `${messageId}:mqtt:${workerId}`;
    const at = this.clock.now();
    const done = this.store.transaction(() => {
      if (!this.store.outbox.markReceived(key, at)) return false;
      const m = this.store.outbox.byKey(key);
      if (m?.alertId) {
        this.store.alerts.addTimeline(m.alertId, {
          at,
          kind: 'received',
          actor: null,
          detail: { channel: 'mqtt', worker: workerId },
        });
      }
      return true;
    });
    if (done) this.onChanged();
  }

  subscribedFresh(workerId: string): void {
    if (this.redeliverMaxAgeMinutes === 0 || !this.store.db.open) return;
    const since = this.clock.now() - this.redeliverMaxAgeMinutes * 60_000;
    const missed = this.store.outbox.unreceived(workerId, since);
    if (missed.length === 0) return;
    this.logger.info({ workerId, messages: missed.length }, 'sending unconfirmed messages again');
    for (const m of missed) {
      this.publisher.publish(m.topic, m.payload, 1).then(
        () => {
          if (!this.store.db.open || !m.alertId) return;
          this.store.alerts.addTimeline(m.alertId, {
            at: this.clock.now(),
            kind: 'redelivered',
            actor: null,
            detail: { channel: 'mqtt', worker: workerId },
          });
          this.onChanged();
        },
        (err: Error) => this.logger.warn({ err: err.message, workerId }, 'redelivery failed'),
      );
    }
  }
}
