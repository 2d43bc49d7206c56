import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import type { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import { mayAcknowledge, parseAckPayload } from '../notifier/worker-ack.ts';
import { routingKeyOf } from '../broker/rabbitmq-hooks.ts';
import { notTheirs, workerAckTopic, workerError, workerReceiptTopic } from '../core/alerts.ts';
import type { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import { receiptOf } from '../notifier/worker-inbox.ts';
import type { ErrorCode } from '../core/errors.ts';
import { TOPICS } from '../core/readings.ts';
import { MQTT_EXCHANGE, closeConnection } from './topology.ts';
import type { PgUnitOfWork } from './unit-of-work.ts';

/**
 * Acknowledgements from worker apps in the cluster. An app publishes `workers/{id}/alerts/{alertId}/ack` over
 * MQTT to RabbitMQ, which lets it publish only under its own worker id (broker/rabbitmq-hooks.ts), so the routing
 * key names who acknowledges. The MQTT plugin routes it on `amq.topic` to one shared quorum queue (`ACK_QUEUE`)
 * that every worker consumes (competing consumers): any worker applies any acknowledgement, and a worker that
 * dies before acknowledging the delivery leaves it to another (at least once).
 *
 * Applying is idempotent, in one transaction: the alert is acknowledged only if it is open, with its timeline
 * entry (and the note, if any), and its escalation chain stops, so no further reminder or level is told; a
 * repeat finds the alert no longer open and changes nothing. The embedded rule decides who may: a person whose
 * grids or area cover the alert (notifier/worker-ack.ts). A refused acknowledgement (unknown alert, not theirs,
 * bad payload) is logged and dead-lettered to `ACK_REFUSED_QUEUE`, never applied, and the app is told why on
 * `workers/{id}/errors` (as the embedded broker tells it).
 *
 * Receipts come on the same queue: an app publishes `{ "messageId" }` on `workers/{id}/received` when a message
 * arrived (RabbitMQ does not tell careflow about the app's PUBACK), and the worker's own message with that id is
 * marked `received`, with `received` on its alert's timeline — once; a repeat or a stranger's id changes nothing.
 */
export const ACK_QUEUE = 'careflow.acks';
export const ACK_REFUSED_QUEUE = 'careflow.acks.refused';
/**
 * `workers/<id>/alerts/<alertId>/ack` as the MQTT plugin writes it. Worker ids may hold dots (so several words);
 * alert ids never do, and RabbitMQ lets a worker publish only `workers.<its id>.alerts.<one word>.ack`, so the
 * worker is everything between `workers.` and the last `.alerts.`.
 */
export const ACK_BINDING = 'workers.#.ack';
const ACK_KEY = /^workers\.(.+)\.alerts\.([^.]+)\.ack$/;
/** `workers/<id>/received` (an app's receipt of a message) as a routing key, on the same queue. */
export const RECEIPT_BINDING = 'workers.#.received';
const RECEIPT_KEY = /^workers\.(.+)\.received$/;
const PREFETCH = 20;
const RETRY_MS = 1_000;

export interface AckConsumerDeps {
  amqpUrl: string;
  /** The registry: who may acknowledge what. */
  directory: Pick<Store, 'escalation' | 'access'>;
  /** Opened on `uow.pool`. */
  alerts: PgAlertRepository;
  /** Opened on `uow.pool`: receipts mark the person's message `received`. */
  outbox: PgOutboxRepository;
  escalations: PgEscalationRepository;
  uow: PgUnitOfWork;
  logger: Logger;
  now?: () => number;
}

export interface AckConsumerStats {
  applied: number;
  /** Acknowledgements of alerts no longer open (repeats, or acknowledged or resolved meanwhile). */
  unchanged: number;
  refused: number;
  /** Receipts that marked a message received (repeats and unknown messages are not counted). */
  receipts: number;
}

export interface AckConsumer {
  stats(): AckConsumerStats;
  readonly lost: Promise<Error>;
  stop(): Promise<void>;
}

export async function startAckConsumer(deps: AckConsumerDeps): Promise<AckConsumer> {
  const { alerts, escalations, uow } = deps;
  const now = deps.now ?? Date.now;
  const logger = deps.logger.child({ module: 'ack-consumer' });
  const conn: ChannelModel = await amqp.connect(deps.amqpUrl, {
    clientProperties: { connection_name: 'careflow-ack-consumer' },
  });
  let stopping = false;
  let resolveLost: (e: Error) => void = () => {};
  const lost = new Promise<Error>((r) => (resolveLost = r));
  conn.on('error', (err: Error) => logger.error({ err }, 'RabbitMQ connection error'));
  let connClosed = false;
  conn.on('close', () => {
    connClosed = true;
    if (!stopping) resolveLost(new Error('the acknowledgement consumer lost its RabbitMQ connection'));
  });
  const stats: AckConsumerStats = { applied: 0, unchanged: 0, refused: 0, receipts: 0 };
  const ch = await conn.createChannel();
  await ch.assertQueue(ACK_REFUSED_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.assertQueue(ACK_QUEUE, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': ACK_REFUSED_QUEUE,
    },
  });
  await ch.bindQueue(ACK_QUEUE, MQTT_EXCHANGE, ACK_BINDING);
  await ch.bindQueue(ACK_QUEUE, MQTT_EXCHANGE, RECEIPT_BINDING);
  await ch.prefetch(PREFETCH);

  /** Why the acknowledgement may not be applied, or what to apply. */
  type Refusal = {
    refused: string;
    code: ErrorCode;
    workerId?: string;
    /** The app's topic the refusal answers. */
    topic?: string;
    answer?: { code: ErrorCode; message: string };
  };
  async function check(
    msg: ConsumeMessage,
  ): Promise<Refusal | { workerId: string; alertId: string; note: string | undefined }> {
    const key = ACK_KEY.exec(msg.fields.routingKey);
    if (!key) return { refused: 'not an acknowledgement topic', code: 'ERR_BROKER_TOPIC_FORBIDDEN' };
    const [, workerId, alertId] = key as unknown as [string, string, string];
    const body = parseAckPayload(msg.content);
    if ('error' in body)
      return {
        refused: body.error,
        code: 'ERR_API_VALIDATION',
        workerId,
        topic: workerAckTopic(workerId, alertId),
      };
    const alert = await alerts.get(alertId);
    if (!alert)
      return {
        refused: `no alert ${alertId}`,
        code: 'ERR_ALERT_NOT_FOUND',
        workerId,
        topic: workerAckTopic(workerId, alertId),
        answer: notTheirs(alertId),
      };
    if (!mayAcknowledge(deps.directory, workerId, alert.gridCode, alert.householdId))
      return {
        refused: `worker ${workerId} may not acknowledge alert ${alertId}: outside their grids or area`,
        code: 'ERR_BROKER_TOPIC_FORBIDDEN',
        workerId,
        topic: workerAckTopic(workerId, alertId),
        answer: notTheirs(alertId),
      };
    return { workerId, alertId, note: body.note };
  }

  /** Tells the app why (RabbitMQ's MQTT plugin hands `workers.<id>.errors` to `workers/<id>/errors`). */
  function reply(r: Refusal): void {
    if (r.workerId === undefined || r.topic === undefined) return;
    const topic = r.topic;
    const answer = r.answer ?? { code: r.code, message: r.refused };
    const body = workerError(topic, answer.code, answer.message, now());
    try {
      ch.publish(
        MQTT_EXCHANGE,
        routingKeyOf(TOPICS.workerErrors(r.workerId)),
        Buffer.from(JSON.stringify(body)),
      );
    } catch (err) {
      logger.warn(
        { err, workerId: r.workerId },
        'could not tell the app why its acknowledgement was refused',
      );
    }
  }

  /**
   * A receipt: the worker's own message (the key names the worker, and RabbitMQ lets an app publish only under
   * its own id) marked `received`, with its timeline entry, once.
   */
  async function receipt(msg: ConsumeMessage, workerId: string): Promise<void> {
    const messageId = receiptOf(msg.content);
    if (messageId === undefined) {
      stats.refused++;
      logger.warn({ routingKey: msg.fields.routingKey }, 'receipt refused: no messageId');
      ch.nack(msg, false, false); // dead-lettered
      reply({
        refused: 'a receipt is {"messageId": "<the message\'s messageId>"}',
        code: 'ERR_API_VALIDATION',
        workerId,
        topic: workerReceiptTopic(workerId),
      });
      return;
    }
    const key = `${messageId}:mqtt:${workerId}`;
    const marked = await uow.run(async () => {
      const at = now();
      if (!(await deps.outbox.markReceived(key, at))) return false;
      const m = await deps.outbox.byKey(key);
      if (m?.alertId)
        await alerts.addTimeline(m.alertId, {
          at,
          kind: 'received',
          actor: null,
          detail: { channel: 'mqtt', worker: workerId },
        });
      return true;
    });
    if (marked) stats.receipts++;
    ch.ack(msg);
  }

  async function handle(msg: ConsumeMessage): Promise<void> {
    try {
      const receiptOfWorker = RECEIPT_KEY.exec(msg.fields.routingKey)?.[1];
      if (receiptOfWorker !== undefined) return await receipt(msg, receiptOfWorker);
      const c = await check(msg);
      if ('refused' in c) {
        stats.refused++;
        logger.warn({ routingKey: msg.fields.routingKey, reason: c.refused }, 'acknowledgement refused');
        ch.nack(msg, false, false); // dead-lettered
        reply(c);
        return;
      }
      const applied = await uow.run(async () => {
        const at = now();
        // Locks the alert, then (stop) its record: the order of every writer of both.
        if (!(await alerts.acknowledgeOpen(c.alertId, c.workerId, at))) return false;
        await alerts.addTimeline(c.alertId, {
          at,
          kind: 'acknowledged',
          actor: c.workerId,
          detail: { via: 'mqtt' },
        });
        if (c.note)
          await alerts.addTimeline(c.alertId, {
            at,
            kind: 'comment',
            actor: c.workerId,
            detail: { text: c.note },
          });
        await escalations.stop(c.alertId, 'acknowledged', at);
        return true;
      });
      if (applied) {
        stats.applied++;
        logger.info({ alertId: c.alertId, workerId: c.workerId }, 'alert acknowledged from the worker app');
      } else stats.unchanged++;
      ch.ack(msg);
    } catch (err) {
      // The shared store failed: give the acknowledgement back (to this or another worker) after a pause.
      logger.error(
        { err, routingKey: msg.fields.routingKey },
        'acknowledgement could not be applied; retrying',
      );
      await new Promise((r) => setTimeout(r, RETRY_MS));
      try {
        ch.nack(msg, false, true);
      } catch {
        // The channel closed: RabbitMQ delivers it again anyway.
      }
    }
  }

  const inFlight = new Set<Promise<void>>();
  const { consumerTag } = await ch.consume(
    ACK_QUEUE,
    (msg) => {
      if (!msg) return;
      const p = handle(msg).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    { noAck: false },
  );

  return {
    lost,
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      await ch.cancel(consumerTag).catch(() => {});
      await Promise.all(inFlight);
      await closeConnection(conn, connClosed);
    },
  };
}
