import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { workerError, workerOfAppTopic, type WorkerPort } from '../core/alerts.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { TOPICS, type MeterErrorMessage } from '../core/readings.ts';
import type { MqttPublisher } from '../core/streams.ts';
import type { IngestPort } from './start-broker.ts';

/** careflow attached to an existing broker as one of its clients. */
export interface AttachedBroker extends MqttPublisher {
  /** 1 while connected to the broker, else 0 (the meters are the broker's clients, not careflow's). */
  connectedClients(): number;
  readonly connected: boolean;
  stop(): Promise<void>;
}

export interface AttachDeps {
  ingest: IngestPort;
  logger: Logger;
  now: () => number;
  /** Acknowledgements from worker apps (`workers/{id}/alerts/{alertId}/ack`), as on the embedded broker. */
  workers?: WorkerPort;
}

const READINGS = /^meters\/([^/]+)\/readings$/;

/**
 * Consumes `meters/+/readings` from the broker at `mqtt.url` through the shared subscription
 * `$share/<mqtt.shareGroup>/meters/+/readings`, with a persistent session (clean: false) at QoS 1. Each message is
 * acknowledged to the broker only after ingest has committed it (mqtt.js `customHandleAcks`): a crash before that
 * leaves it with the broker, which delivers it again to the session. Worker alerts and meter error replies are
 * published there. The broker authenticates meters and enforces the topics (see the README: Mosquitto files).
 *
 * Worker apps acknowledge alerts on `workers/{id}/alerts/{alertId}/ack`, consumed through
 * `$share/<group>/workers/+/alerts/+/ack` the same way: the acknowledgement is committed before the broker gets
 * its PUBACK. The worker id is the topic's: the broker's ACL lets each worker write only under its own id, and
 * the notifier still checks that the alert lies in that worker's grids or area. Their receipts
 * (`workers/{id}/received`, `{ "messageId" }`) come through `$share/<group>/workers/+/received`.
 */
export async function attachBroker(config: Config, deps: AttachDeps): Promise<AttachedBroker> {
  const logger = deps.logger.child({ module: 'attach-broker' });
  const url = config.mqtt.url!;
  const filter = `$share/${config.mqtt.shareGroup}/meters/+/readings`;
  const ackFilter = `$share/${config.mqtt.shareGroup}/workers/+/alerts/+/ack`;
  const receiptFilter = `$share/${config.mqtt.shareGroup}/workers/+/received`;
  let stopping = false;

  const options: IClientOptions = {
    clientId: config.mqtt.clientId,
    // MQTT 5: mqtt.js lets the application delay a PUBACK (customHandleAcks) only on v5 connections.
    protocolVersion: 5,
    clean: false,
    // The broker keeps careflow's session (its subscription and the QoS 1 messages not yet acknowledged) for a
    // week while careflow is down.
    properties: { sessionExpiryInterval: 7 * 24 * 3600 },
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
    ...(config.mqtt.password ? { password: config.mqtt.password } : {}),
    customHandleAcks: (topic, payload, _packet, done) => {
      const meterId = READINGS.exec(topic)?.[1];
      if (meterId === undefined) {
        const workerId = workerOfAppTopic(topic);
        if (workerId !== undefined && deps.workers?.accepts(workerId, topic)) {
          // Synchronous and committed in one transaction: the PUBACK follows the acknowledgement's commit.
          const refused = deps.workers.publish(workerId, topic, payload);
          if (refused) {
            deps.ingest.deadLetter(workerId, topic, refused.code, refused.message, excerpt(payload));
            logger.warn({ workerId, topic, code: refused.code }, 'acknowledgement from a worker app refused');
            const answer = refused.answer ?? refused;
            const body = workerError(topic, answer.code, answer.message, deps.now());
            publish(TOPICS.workerErrors(workerId), JSON.stringify(body), 0).catch((err: Error) =>
              logger.warn({ err: err.message, workerId }, 'error reply not published'),
            );
          }
        }
        return done(0); // anything else is not ours; acknowledged and ignored
      }
      deps.ingest.accept(meterId, topic, payload, (err, result) => {
        if (err) {
          // Not stored: no PUBACK; the connection is dropped and the broker delivers it again.
          logger.error({ err, meterId }, 'commit failed; the broker will deliver the reading again');
          return done(err);
        }
        done(0);
        for (const r of result?.rejected ?? []) replyError(meterId, r.code, r.message, r.field);
      });
    },
  };

  const client: MqttClient = mqtt.connect(url, options);
  client.on('error', (err) => logger.warn({ err: err.message }, 'broker connection error'));
  client.on('offline', () => !stopping && logger.warn({ url: redact(url) }, 'broker unreachable; retrying'));
  client.on('connect', (ack) => {
    logger.info({ url: redact(url), sessionPresent: ack.sessionPresent }, 'attached to the broker');
    // Subscribing again on a resumed session is harmless and covers a broker that lost it.
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (err || granted?.some((g) => g.qos === 128))
        logger.error({ err: err?.message, filter }, 'the broker refused the readings subscription');
    });
    if (deps.workers) {
      for (const f of [ackFilter, receiptFilter])
        client.subscribe(f, { qos: 1 }, (err, granted) => {
          if (err || granted?.some((g) => g.qos === 128))
            logger.error(
              { err: err?.message, filter: f },
              'the broker refused the subscription to worker apps’ acknowledgements or receipts',
            );
        });
    }
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from the broker at ${redact(url)}`)), 15_000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      client.end(true);
      reject(new Error(`cannot attach to the broker at ${redact(url)}: ${err.message}`));
    });
  });

  function publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    return client.publishAsync(topic, payload, { qos }).then(() => undefined);
  }

  function replyError(meterId: string, code: string, message: string, field?: string): void {
    const body: MeterErrorMessage = {
      code,
      message,
      ...(field ? { field } : {}),
      ts: new Date(deps.now()).toISOString(),
    };
    publish(TOPICS.meterErrors(meterId), JSON.stringify(body), 0).catch((err: Error) =>
      logger.warn({ err: err.message, meterId }, 'error reply not published'),
    );
  }

  return {
    publish,
    connectedClients: () => (client.connected ? 1 : 0),
    get connected() {
      return client.connected;
    },
    async stop() {
      stopping = true;
      // Not unsubscribing: the session keeps the subscription, and what arrives meanwhile waits for the next start.
      await client.endAsync();
    },
  };
}

/** The start of a payload, for a dead letter. */
function excerpt(payload: Buffer): string {
  return payload.subarray(0, 200).toString('utf8');
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
