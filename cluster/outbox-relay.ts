import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from '../core/logger.ts';
import { routingKeyOf } from '../broker/rabbitmq-hooks.ts';
import type { AlertRepository } from '../notifier/alert-repository.ts';
import { afterFailedAttempt, deliveryEntry, type RetryPolicy } from '../notifier/outbox-dispatcher.ts';
import type { OutboxMessage } from '../notifier/outbox-repository.ts';
import type { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import { MQTT_EXCHANGE, closeConnection } from './topology.ts';
import type { PgUnitOfWork } from './unit-of-work.ts';

/**
 * The cluster's deliveries: every worker runs one relay, and any relay may send any message of the shared
 * outbox. A relay claims due messages (`PgOutboxRepository.claimDue`: a lease of `LEASE_MS`, `SKIP LOCKED`), so
 * two relays do not send the same message while both live; a message claimed by a worker that dies is due again
 * when its lease runs out and another relay sends it. MQTT messages are published to RabbitMQ's MQTT exchange
 * with the routing key of their topic (`workers/<id>/alerts` → `workers.<id>.alerts`) on a confirm channel, as
 * persistent QoS 1 messages, and marked `sent` only after RabbitMQ confirmed them (it then holds them in the app's
 * session queue); webhooks are called as the embedded dispatcher calls them. A failed attempt is retried with the
 * embedded dispatcher's backoff and fails after as many attempts.
 *
 * At least once: a relay that dies between RabbitMQ's confirm and its mark, or whose lease ran out while a
 * publish hung, lets the message be sent again — with the same payload, so the same `messageId`, which is what
 * apps deduplicate by (README, MQTT contract).
 */
export interface OutboxRelayDeps {
  amqpUrl: string;
  /** The shared outbox and alerts, opened on `uow.pool` (a message's mark and timeline entry commit together). */
  outbox: PgOutboxRepository;
  alerts: AlertRepository<'async'>;
  uow: PgUnitOfWork;
  webhooks: { deliver(m: OutboxMessage): Promise<void> };
  policy: RetryPolicy;
  logger: Logger;
  now?: () => number;
  /** Default `LEASE_MS`. */
  leaseMs?: number;
  /**
   * A message of an alert's escalation level failed for good: the next level is told at once (in the same
   * transaction as the failure's mark). `lock` takes the alert's and its chain's locks first (the order of every
   * writer of both); `escalate` returns whether it queued anything.
   */
  escalation?: {
    lock(alertId: string): Promise<void>;
    escalateNow(m: OutboxMessage): Promise<boolean>;
  };
}

export interface OutboxRelayStats {
  /** Messages this relay claimed (a message claimed again after a lease ran out counts again). */
  claimed: number;
  /** Delivered: MQTT confirmed by RabbitMQ, webhook answered 2xx. */
  sent: number;
  retries: number;
  failed: number;
}

export interface OutboxRelay {
  /** Looks for due messages now (after a commit queued some) instead of at the next poll. */
  kick(): void;
  stats(): OutboxRelayStats;
  /** Resolves when the relay's RabbitMQ connection was lost. */
  readonly lost: Promise<Error>;
  stop(): Promise<void>;
}

/** How long a claim keeps other relays off a message: well above a publish's confirm or a webhook's timeout. */
export const LEASE_MS = 30_000;
/** How often a relay looks for due messages (messages queued by other workers, retries falling due). */
const POLL_MS = 250;
/** Messages claimed at once; a full batch is followed by the next at once. */
const BATCH = 100;
/** A confirm that does not come in this time is a failed attempt. */
const CONFIRM_TIMEOUT_MS = 10_000;

export async function startOutboxRelay(deps: OutboxRelayDeps): Promise<OutboxRelay> {
  const { outbox, alerts, uow, policy } = deps;
  const now = deps.now ?? Date.now;
  const leaseMs = deps.leaseMs ?? LEASE_MS;
  const logger = deps.logger.child({ module: 'outbox-relay' });
  const conn: ChannelModel = await amqp.connect(deps.amqpUrl, {
    clientProperties: { connection_name: 'careflow-outbox-relay' },
  });
  let stopping = false;
  let resolveLost: (e: Error) => void = () => {};
  const lost = new Promise<Error>((r) => (resolveLost = r));
  conn.on('error', (err: Error) => logger.error({ err }, 'RabbitMQ connection error'));
  let connClosed = false;
  conn.on('close', () => {
    connClosed = true;
    if (!stopping) resolveLost(new Error('the outbox relay lost its RabbitMQ connection'));
  });
  let channel: Promise<ConfirmChannel> | null = null;
  const stats: OutboxRelayStats = { claimed: 0, sent: 0, retries: 0, failed: 0 };

  /** The confirm channel, opened again after RabbitMQ closed it (a publish it refused closes it). */
  function confirmChannel(): Promise<ConfirmChannel> {
    if (!channel) {
      const opening = conn.createConfirmChannel();
      channel = opening;
      opening.then(
        (ch) => {
          ch.on('error', (err: Error) => logger.warn({ err }, 'outbox relay channel error'));
          ch.on('close', () => {
            if (channel === opening) channel = null;
          });
        },
        () => {
          if (channel === opening) channel = null;
        },
      );
    }
    return channel;
  }

  async function publish(m: OutboxMessage): Promise<void> {
    const ch = await confirmChannel();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`RabbitMQ did not confirm within ${CONFIRM_TIMEOUT_MS} ms`)),
        CONFIRM_TIMEOUT_MS,
      );
      // Persistent, QoS 1 for RabbitMQ's MQTT plugin: a subscriber at QoS 1 gets it at QoS 1 (and must PUBACK).
      ch.publish(
        MQTT_EXCHANGE,
        routingKeyOf(m.topic),
        Buffer.from(m.payload),
        { persistent: true, contentType: 'application/json', headers: { 'x-mqtt-publish-qos': 1 } },
        (err: unknown) => {
          clearTimeout(timer);
          if (err) reject(err instanceof Error ? err : new Error('RabbitMQ refused the message'));
          else resolve();
        },
      );
    });
  }

  async function attempt(m: OutboxMessage): Promise<void> {
    try {
      if (m.channel === 'mqtt') await publish(m);
      else await deps.webhooks.deliver(m);
    } catch (err) {
      await failedAttempt(m, err as Error);
      return;
    }
    const at = now();
    await uow.run(async () => {
      const changed =
        m.channel === 'mqtt' ? await outbox.markSent(m.id, at) : await outbox.markDelivered(m.id, at);
      if (changed && m.alertId)
        await alerts.addTimeline(m.alertId, deliveryEntry(m, at, { kind: 'delivered' }));
    });
    stats.sent++;
  }

  async function failedAttempt(m: OutboxMessage, err: Error): Promise<void> {
    const at = now();
    const after = afterFailedAttempt(policy, m, at, err);
    if (after.kind === 'failed') {
      stats.failed++;
      const escalated = await uow.run(async () => {
        if (m.alertId && deps.escalation) await deps.escalation.lock(m.alertId);
        if (!(await outbox.markFailed(m.id, at, err.message)) || !m.alertId) return false;
        await alerts.addTimeline(m.alertId, deliveryEntry(m, at, { kind: 'failed', err }));
        return deps.escalation ? deps.escalation.escalateNow(m) : false;
      });
      logger.error(
        { outboxId: m.id, channel: m.channel, target: m.target, attempts: m.attempts + 1, err: err.message },
        'delivery failed for good',
      );
      if (escalated) kick(); // the next level's messages are queued
      return;
    }
    stats.retries++;
    await uow.run(async () => {
      await outbox.markRetry(m.id, after.at, err.message);
      if (m.alertId)
        await alerts.addTimeline(m.alertId, deliveryEntry(m, at, { kind: 'retry', at: after.at, err }));
    });
    logger.warn(
      { outboxId: m.id, channel: m.channel, target: m.target, attempt: m.attempts + 1, err: err.message },
      'delivery failed, will retry',
    );
  }

  let running: Promise<void> | null = null;
  let again = false;
  async function drain(): Promise<void> {
    for (;;) {
      again = false;
      const batch = await outbox.claimDue(now(), leaseMs, BATCH);
      stats.claimed += batch.length;
      await Promise.all(batch.map((m) => attempt(m)));
      if (stopping || (batch.length < BATCH && !again)) return;
    }
  }
  function kick(): void {
    if (stopping) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((err: unknown) => logger.error({ err }, 'outbox relay round failed'))
      .finally(() => (running = null));
  }
  const poll = setInterval(kick, POLL_MS);
  poll.unref();
  kick();

  return {
    kick,
    lost,
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      clearInterval(poll);
      await running;
      await closeConnection(conn, connClosed);
    },
  };
}
