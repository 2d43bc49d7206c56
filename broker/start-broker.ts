import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import type { WorkerPort } from '../core/alerts.ts';
import type { Config } from '../core/config.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { TOPICS, type MeterErrorMessage } from '../core/readings.ts';
import type { Store } from '../core/store/store.ts';
import type { MqttPublisher } from '../core/streams.ts';
import { Authenticator, type Principal } from './authenticator.ts';
import { guardPacketSize, type PacketParser } from './packet-size-guard.ts';

/** What the broker needs from ingest: the publish hook and a place to record rejected input. */
export interface IngestPort {
  /** Stores a meter's payload; `done` runs once it is committed (release the PUBACK then) or failed. */
  accept(
    meterId: string,
    topic: string,
    payload: Buffer,
    done: (
      err: Error | null,
      result?: { accepted: number; rejected: { code: ErrorCode; message: string; field?: string }[] },
    ) => void,
  ): void;
  deadLetter(
    meterId: string | null,
    topic: string | null,
    code: ErrorCode,
    message: string,
    excerpt?: string,
  ): void;
}

export interface BrokerDeps {
  store: Store;
  /** Prometheus metrics: `metrics.countFailedAuthentication('mqtt')` for a refused CONNECT. */
  metrics?: ServiceMetrics;
  ingest: IngestPort;
  logger: Logger;
  now: () => number;
  /** Worker-app traffic for the notifier: acknowledgements, delivery receipts, resubscriptions. */
  workers?: WorkerPort;
}

export interface Broker extends MqttPublisher {
  readonly port: number;
  readonly aedes: Aedes;
  connectedClients(): number;
  stop(): Promise<void>;
}

/** Messages the broker took but must not forward (rejected or already consumed by ingest) go here. */
const SINK_PREFIX = '$careflow/consumed/';

const principals = new WeakMap<Client, Principal>();

/**
 * The embedded MQTT broker (Aedes on TCP). Meters and workers log in with their own credentials; ACLs keep
 * each to its own topics. A reading's PUBACK is released only after ingest committed it to the inbox.
 */
export async function startBroker(config: Config, deps: BrokerDeps): Promise<Broker> {
  const logger = deps.logger.child({ module: 'broker' });
  const auth = new Authenticator(deps.store);
  const connPrincipals = new WeakMap<object, Principal>();

  const aedes = await Aedes.createBroker({
    maxClientsIdLength: 128,
    authenticate(client, username, password, done) {
      auth.authenticate(username, password).then(
        (principal) => {
          if (principal) {
            principals.set(client, principal);
            connPrincipals.set(client.conn, principal);
            return done(null, true);
          }
          logger.warn(
            { username, clientId: client.id },
            'connection refused: unknown client or wrong secret',
          );
          const err = new Error(
            'ERR_BROKER_AUTH_FAILED: unknown client or wrong secret',
          ) as AuthenticateError;
          err.returnCode = 4;
          done(err, false);
        },
        (err: Error) => {
          logger.error({ err }, 'authentication failed with an internal error');
          const e = new Error('server unavailable') as AuthenticateError;
          e.returnCode = 3;
          done(e, false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const principal = principals.get(client);
      if (!principal) return done(new Error('not authenticated'));
      packet.retain = false;
      const topic = packet.topic;
      if (principal.kind === 'meter' && topic === TOPICS.readings(principal.id)) {
        deps.ingest.accept(principal.id, topic, packet.payload as Buffer, (err, result) => {
          if (err || !result) {
            // Not committed: no PUBACK. Closing the connection makes the meter resend the reading later.
            logger.error({ err, meterId: principal.id }, 'reading not committed; closing connection');
            return done(err ?? new Error('not committed'));
          }
          for (const r of result.rejected) sendMeterError(principal.id, r.code, r.message, r.field);
          consume(packet, client);
          done(null);
        });
        return;
      }
      if (principal.kind === 'worker' && deps.workers?.accepts(principal.id, topic)) {
        const refused = deps.workers.publish(principal.id, topic, packet.payload as Buffer);
        if (refused)
          deps.ingest.deadLetter(principal.id, topic, refused.code, refused.message, excerpt(packet));
        consume(packet, client);
        return done(null);
      }
      const message = `${principal.kind} ${principal.id} may not publish to ${topic}`;
      deps.ingest.deadLetter(principal.id, topic, 'ERR_BROKER_TOPIC_FORBIDDEN', message, excerpt(packet));
      if (principal.kind === 'meter')
        sendMeterError(principal.id, 'ERR_BROKER_TOPIC_FORBIDDEN', message, 'topic');
      logger.warn({ principal, topic }, 'publish refused');
      consume(packet, client);
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      const principal = principals.get(client);
      const allowed =
        principal !== undefined &&
        ((principal.kind === 'meter' && sub.topic === TOPICS.meterErrors(principal.id)) ||
          (principal.kind === 'worker' && sub.topic === TOPICS.workerAlerts(principal.id)));
      if (!allowed) {
        logger.warn({ principal, topic: sub.topic }, 'subscription refused');
        return done(null, null);
      }
      done(null, sub);
    },
  });

  if (deps.workers) watchWorkerApps(aedes, deps.workers);

  // A consumed packet has nobody to go to: after its PUBACK, aedes would still route it (persistence lookup,
  // emitter, 'publish' event) to the sink topic. Skip that work; everything else is published as usual.
  const consumed = new WeakSet<PublishPacket>();
  const route = aedes.publish.bind(aedes) as (
    p: PublishPacket,
    c: unknown,
    done?: (err?: Error) => void,
  ) => void;
  (aedes as unknown as { publish: typeof route }).publish = (packet, client, done) => {
    if (consumed.has(packet)) {
      consumed.delete(packet);
      if (typeof done === 'function') done();
      return;
    }
    route(packet, client, done);
  };

  aedes.on('clientError', (client, err) => {
    logger.debug({ clientId: client.id, err: err.message }, 'client error');
  });

  function consume(packet: PublishPacket, client: Client): void {
    consumed.add(packet);
    packet.topic = SINK_PREFIX + client.id;
  }

  function excerpt(packet: PublishPacket): string {
    const p = packet.payload;
    return (typeof p === 'string' ? p : Buffer.from(p)).toString('utf8').slice(0, 200);
  }

  function sendMeterError(meterId: string, code: string, message: string, field?: string): void {
    const body: MeterErrorMessage = { code, message, ts: new Date(deps.now()).toISOString() };
    if (field) body.field = field;
    publish(TOPICS.meterErrors(meterId), JSON.stringify(body), 0).catch((err: Error) =>
      logger.warn({ err: err.message, meterId }, 'could not send meter error'),
    );
  }

  function publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    return new Promise((resolve, reject) => {
      aedes.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false },
        (err?: Error | null) => (err ? reject(err) : resolve()),
      );
    });
  }

  const server: Server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const client = aedes.handle(socket) as unknown as { _parser?: PacketParser };
    if (!client._parser) {
      // Only an aedes upgrade can cause this: refuse connections rather than run without the size guard.
      logger.error('aedes connection has no parser to guard; connection closed');
      socket.destroy();
      return;
    }
    guardPacketSize(client._parser, socket, config.mqtt.maxPacketBytes, (announced) => {
      const principal = connPrincipals.get(socket);
      const message = `MQTT packet of ${announced} bytes exceeds the limit of ${config.mqtt.maxPacketBytes}; connection closed`;
      deps.ingest.deadLetter(principal?.id ?? null, null, 'ERR_INGEST_PACKET_TOO_LARGE', message);
      logger.warn(
        { principal, announced, remote: socket.remoteAddress },
        'oversize packet; connection closed',
      );
    });
  });
  server.on('error', (err) => logger.error({ err }, 'MQTT server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.mqtt.port, config.mqtt.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.mqtt.port;
  logger.info({ port, host: config.mqtt.host }, 'MQTT broker listening');

  return {
    port,
    aedes,
    publish,
    connectedClients: () => aedes.connectedClients,
    async stop() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Hands the notifier what it needs to deliver at least once to worker apps on persistent sessions: the
 * PUBACK of each alert message (its receipt), and a subscription on a session the broker did not have
 * (after a restart the in-memory sessions are gone: unconfirmed messages are sent again).
 */
function watchWorkerApps(aedes: Aedes, workers: WorkerPort): void {
  const fresh = new WeakSet<Client>();
  aedes.on('connackSent', (connack, client) => {
    if (client.clean === false && !connack.sessionPresent) fresh.add(client);
  });
  aedes.on('subscribe', (subs, client) => {
    const principal = client && principals.get(client);
    if (principal?.kind !== 'worker' || !fresh.has(client)) return;
    if (subs.some((s) => s.topic === TOPICS.workerAlerts(principal.id) && s.qos > 0)) {
      fresh.delete(client);
      workers.subscribedFresh(principal.id);
    }
  });
  aedes.on('ack', (packet, client) => {
    const principal = client && principals.get(client);
    if (principal?.kind !== 'worker' || !packet || !('payload' in packet)) return;
    if (packet.topic === TOPICS.workerAlerts(principal.id))
      workers.received(principal.id, Buffer.from(packet.payload));
  });
}
