import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { workerError, type WorkerPort } from '../core/alerts.ts';
import type { Config } from '../core/config.ts';
import type { ErrorCode } from '../core/errors.ts';
import { HashQueue } from '../core/hash-queue.ts';
import type { Logger } from '../core/logger.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { TOPICS, type MeterErrorMessage } from '../core/readings.ts';
import type { Store } from '../core/store/store.ts';
import type { MqttPublisher } from '../core/streams.ts';
import { Authenticator, type AuthenticatorTables, type AuthOutcome } from './authenticator.ts';
import { ClientIdOwnership, type ClientIdTables } from './client-id-owner.ts';
import { ConnectThrottle } from './connect-throttle.ts';
import { installLeanConnect } from './lean-connect.ts';
import { leanPublishListener, supportsLeanPublish, type LeanPublishDeps } from './lean-publish.ts';
import { guardPacketSize, type PacketParser } from './packet-size-guard.ts';
import type { Principal } from './principal.ts';
import { SecretVerifiers, type VerifierTables } from './secret-verifiers.ts';
import { SecurityEvents, type RefusalReason, type SecurityEventTables } from './security-events.ts';

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

/**
 * The parts of the embedded store the broker uses: those of its parts, and the database itself (the checks of
 * one CONNECT read in one snapshot).
 */
export type BrokerTables = Pick<Store, 'db'> &
  AuthenticatorTables &
  ClientIdTables &
  VerifierTables &
  SecurityEventTables;

export interface BrokerDeps {
  store: BrokerTables;
  /** Prometheus metrics: `metrics.countFailedAuthentication('mqtt')` for a refused CONNECT. */
  metrics?: ServiceMetrics;
  ingest: IngestPort;
  logger: Logger;
  now: () => number;
  /** Worker-app traffic for the notifier: acknowledgements, delivery receipts, resubscriptions. */
  workers?: WorkerPort;
  /** Certificate and key for the MQTT-over-TLS listener (none: no TLS listener). */
  tls?: SecureContextOptions;
  /** Key of the fast secret verifiers (`<dataDir>/verifier-key`); none: a random one, verifiers last one run. */
  verifierKey?: Buffer;
}

/** Figures for `/metrics`: refused CONNECTs by reason and device-secret checks. */
export interface BrokerSecurityStats {
  refusedConnects: Readonly<Record<RefusalReason, number>>;
  secretChecks: number;
  secretChecksQueued: number;
  /** CONNECTs accepted by a stored keyed verifier, without scrypt. */
  secretFastChecks: number;
}

export interface Broker extends MqttPublisher {
  /** The plain listener's port (0 when `mqtt.plain` is off). */
  readonly port: number;
  /** The MQTT-over-TLS listener's port, when TLS is configured. */
  readonly tlsPort: number | null;
  readonly aedes: Aedes;
  connectedClients(): number;
  security(): BrokerSecurityStats;
  /** Serves one MQTT connection arriving on another transport (a WebSocket from the HTTP server). */
  handleStream(stream: Duplex, address: string): void;
  /** Replaces the TLS listener's certificate and key (new connections use them). */
  setSecureContext(tls: SecureContextOptions): void;
  stop(): Promise<void>;
}

/** Messages the broker took but must not forward (rejected or already consumed by ingest) go here. */
const SINK_PREFIX = '$careflow/consumed/';

const principals = new WeakMap<Client, Principal>();

/**
 * The embedded MQTT broker (Aedes on TCP, on TLS when a certificate is given, and on any stream handed to
 * `handleStream`, such as a WebSocket). Meters and workers log in with their own credentials (throttled per
 * address and id, checked on a bounded queue), may use only client ids that are theirs (client-id-owner.ts),
 * and ACLs keep each to its own topics. A reading's PUBACK is released only after ingest committed it.
 */
export async function startBroker(config: Config, deps: BrokerDeps): Promise<Broker> {
  const logger = deps.logger.child({ module: 'broker' });
  const m = config.mqtt;
  const hashes = new HashQueue(m.hashConcurrency, m.hashQueueMax);
  const backoff = {
    baseMs: 1_000,
    maxMs: m.authBackoffMaxMs,
    forgetMs: Math.max(600_000, m.authBackoffMaxMs),
  };
  const verifiers = new SecretVerifiers(deps.store, deps.verifierKey ?? randomBytes(32), (err) =>
    logger.error({ err }, 'could not store secret verifiers'),
  );
  const auth = new Authenticator({
    store: deps.store,
    hashes,
    verifiers,
    throttle: new ConnectThrottle(
      { ...backoff, freeFailures: m.authFailuresPerAddress },
      { ...backoff, freeFailures: m.authFailuresPerId },
    ),
  });
  const clientIds = new ClientIdOwnership(deps.store, (err) =>
    logger.error({ err }, 'could not store MQTT client id bindings'),
  );
  const events = new SecurityEvents({ store: deps.store, logger, now: deps.now });
  /**
   * Remote address of the streams that do not carry one (a WebSocket's, from the HTTP request). A TCP or TLS
   * socket's is read from it when needed: it costs a system call, and a CONNECT recognised by its verifier never
   * needs it.
   */
  const addresses = new WeakMap<object, string>();
  /** Connections without a client id (aedes makes one up), and those of them asking for a persistent session. */
  const withoutId = new WeakSet<object>();
  const persistentWithoutId = new WeakSet<object>();

  /** Client ids that had a persistent session or a will since start (bounded: only authenticated, owned ids). */
  const mayHaveSession = new Set<string>();
  /**
   * Runs the synchronous part of a CONNECT's check in one read transaction: its three point lookups (the
   * principal, its stored verifier, the client id's owner) then share one snapshot and one set of file locks
   * instead of taking and releasing them three times (system calls, a few µs each, in every CONNECT of a storm).
   * Nothing in it writes (verifiers and bindings are written later, in batches).
   */
  const readTogether = deps.store.db.transaction((fn: () => unknown) => fn()) as <T>(fn: () => T) => T;
  function authenticateClient(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: AuthenticateError | null, ok: boolean) => void,
  ): void {
    let address: string | undefined;
    // Read once, while the connection is still open (a refusal may come after it closed).
    const addressNow = () => (address ??= addressOf(client.conn));
    const refuse = (reason: RefusalReason, returnCode: 2 | 3 | 4) => {
      events.record({ reason, address: addressNow(), id: username, clientId: client.id });
      if (reason === 'bad-credentials') deps.metrics?.countFailedAuthentication('mqtt');
      const err = new Error(REFUSAL_MESSAGES[reason]) as AuthenticateError;
      err.returnCode = returnCode;
      done(err, false);
    };
    if (persistentWithoutId.has(client)) return refuse('client-id-empty', 2);
    /** What the credentials' outcome means for this client (claims the client id when it may have it). */
    const admit = (outcome: AuthOutcome): Principal | RefusalReason => {
      if (!outcome.ok) return outcome.reason;
      // An id aedes generated (empty client id, clean session) is nobody's to bind.
      if (!withoutId.has(client) && !clientIds.claim(client.id, outcome.principal, deps.now()))
        return 'client-id-taken';
      return outcome.principal;
    };
    const settle = (verdict: Principal | RefusalReason) => {
      if (typeof verdict === 'string')
        return refuse(verdict, verdict === 'bad-credentials' ? 4 : verdict === 'client-id-taken' ? 2 : 3);
      // Ids that may have session state in aedes' persistence: their clean CONNECTs discard it first.
      if (client.clean === false || (client as unknown as { _will?: unknown })._will)
        mayHaveSession.add(client.id);
      principals.set(client, verdict);
      done(null, true);
    };
    const failed = (err: Error) => {
      logger.error({ err }, 'authentication failed with an internal error');
      const e = new Error('server unavailable') as AuthenticateError;
      e.returnCode = 3;
      done(e, false);
    };
    // A transaction function may not return a promise: the slow path's comes out in a box.
    let verdict: Principal | RefusalReason | { slow: Promise<AuthOutcome> };
    try {
      verdict = readTogether(() => {
        const outcome = auth.check(username, password, addressNow);
        return outcome instanceof Promise ? { slow: outcome } : admit(outcome);
      });
    } catch (err) {
      return failed(err as Error);
    }
    // A secret recognised by its verifier is decided at once: no promise, no extra turn of the event loop.
    if (typeof verdict === 'object' && 'slow' in verdict)
      verdict.slow.then((outcome) => settle(admit(outcome)), failed);
    else settle(verdict);
  }

  function addressOf(stream: object): string {
    return addresses.get(stream) ?? (stream as { remoteAddress?: string }).remoteAddress ?? 'unknown';
  }

  const aedes = await Aedes.createBroker({
    maxClientsIdLength: 128,
    // Not called for the CONNECTs the lean path takes (lean-connect.ts: a client id, a clean session, no will):
    // a check that must hold for every CONNECT belongs in authenticateClient.
    preConnect(client, packet, done) {
      if (!packet.clientId) withoutId.add(client);
      if (!packet.clientId && packet.clean === false) persistentWithoutId.add(client);
      done(null, true);
    },
    authenticate: authenticateClient,
    // Messages queued in a session (and live ones) only ever go to the principal the topic names.
    authorizeForward(client, packet) {
      const principal = principals.get(client);
      if (!principal) return null;
      return mayReceive(principal, packet.topic) ? packet : null;
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const principal = principals.get(client);
      if (!principal) return done(new Error('not authenticated'));
      packet.retain = false;
      const topic = packet.topic;
      if (principal.kind === 'meter' && topic === TOPICS.readings(principal.id)) {
        acceptReading(principal.id, topic, packet.payload as Buffer, (err) => {
          if (err) return done(err);
          consume(packet, client);
          done(null);
        });
        return;
      }
      if (principal.kind === 'worker' && deps.workers?.accepts(principal.id, topic)) {
        const refused = deps.workers.publish(principal.id, topic, packet.payload as Buffer);
        if (refused) {
          deps.ingest.deadLetter(principal.id, topic, refused.code, refused.message, excerpt(packet));
          const answer = refused.answer ?? refused;
          sendWorkerError(principal.id, topic, answer.code, answer.message);
        }
        consume(packet, client);
        return done(null);
      }
      const message = `${principal.kind} ${principal.id} may not publish to ${topic}`;
      deps.ingest.deadLetter(principal.id, topic, 'ERR_BROKER_TOPIC_FORBIDDEN', message, excerpt(packet));
      if (principal.kind === 'meter')
        sendMeterError(principal.id, 'ERR_BROKER_TOPIC_FORBIDDEN', message, 'topic');
      else sendWorkerError(principal.id, topic, 'ERR_BROKER_TOPIC_FORBIDDEN', message);
      logger.warn({ principal, topic }, 'publish refused');
      consume(packet, client);
      done(null);
    },
    // Also runs for the subscriptions a persistent session restores: they are authorised again.
    authorizeSubscribe(client, sub, done) {
      const principal = principals.get(client);
      const allowed = principal !== undefined && mayReceive(principal, sub.topic);
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
  // aedes announces every connect and disconnect on `$SYS/<broker id>/…/clients` for brokers sharing one
  // emitter (a cluster); careflow is one broker and nobody may subscribe to `$SYS`: two publishes per
  // connection saved, which counts in a reconnect storm.
  const announcements = new Set([`$SYS/${aedes.id}/new/clients`, `$SYS/${aedes.id}/disconnect/clients`]);
  (aedes as unknown as { publish: typeof route }).publish = (packet, client, done) => {
    // aedes' own calls pass the callback second: `publish(packet, done)`.
    if (typeof client === 'function') {
      done = client as (err?: Error) => void;
      client = null;
    }
    if (!client && announcements.has(packet.topic)) {
      if (typeof done === 'function') done();
      return;
    }
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

  /** A meter's payload on its own readings topic, to ingest; `done(null)` once committed (PUBACK then). */
  function acceptReading(
    meterId: string,
    topic: string,
    payload: Buffer,
    done: (err: Error | null) => void,
  ): void {
    deps.ingest.accept(meterId, topic, payload, (err, result) => {
      if (err || !result) {
        // Not committed: no PUBACK. Closing the connection makes the meter resend the reading later.
        logger.error({ err, meterId }, 'reading not committed; closing connection');
        return done(err ?? new Error('not committed'));
      }
      for (const r of result.rejected) sendMeterError(meterId, r.code, r.message, r.field);
      done(null);
    });
  }
  const leanPublish: LeanPublishDeps = {
    meterOf(client) {
      const principal = principals.get(client);
      return principal?.kind === 'meter' ? principal.id : undefined;
    },
    readingsTopic: TOPICS.readings,
    accept: acceptReading,
  };

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

  function sendWorkerError(workerId: string, topic: string, code: string, message: string): void {
    const body = workerError(topic, code, message, deps.now());
    publish(TOPICS.workerErrors(workerId), JSON.stringify(body), 0).catch((err: Error) =>
      logger.warn({ err: err.message, workerId }, 'could not send worker error'),
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

  /** Serves one connection; `address`: the remote address of a stream that has none of its own. */
  function serve(stream: Duplex, address?: string): void {
    if (address !== undefined) addresses.set(stream, address);
    stream.on('error', () => {});
    const client = aedes.handle(stream) as unknown as { _parser?: PacketParser };
    if (!client._parser) {
      // Only an aedes upgrade can cause this: refuse connections rather than run without the size guard.
      logger.error('aedes connection has no parser to guard; connection closed');
      stream.destroy();
      return;
    }
    guardPacketSize(client._parser, stream, m.maxPacketBytes, (announced) => {
      // aedes keeps its client on the stream (`conn.client`).
      const principal = principals.get((stream as { client?: Client }).client!);
      const message = `MQTT packet of ${announced} bytes exceeds the limit of ${m.maxPacketBytes}; connection closed`;
      deps.ingest.deadLetter(principal?.id ?? null, null, 'ERR_INGEST_PACKET_TOO_LARGE', message);
      logger.warn({ principal, announced, remote: addressOf(stream) }, 'oversize packet; connection closed');
    });
    if (
      !installLeanConnect(client as unknown as Client, {
        aedes,
        authenticate: authenticateClient,
        mayHaveSession: (id) => mayHaveSession.has(id),
        packetListener: (c, enqueue) =>
          supportsLeanPublish(c) ? leanPublishListener(c, enqueue, leanPublish) : enqueue,
      }) &&
      !leanConnectMissing
    ) {
      leanConnectMissing = true;
      logger.warn("aedes connections are not as expected: every CONNECT takes aedes' own, slower path");
    }
  }
  let leanConnectMissing = false;

  const servers: Server[] = [];
  let port = 0;
  if (m.plain) {
    // noDelay here is set on the accepted handle directly (no per-socket call).
    const server = createServer({ noDelay: true }, (socket: Socket) => {
      serve(socket);
    });
    port = await listen(server, m.port, m.host, logger);
    servers.push(server);
    logger.info({ port, host: m.host }, 'MQTT broker listening');
  }
  let tlsServer: ReturnType<typeof createTlsServer> | null = null;
  let tlsPort: number | null = null;
  if (deps.tls) {
    tlsServer = createTlsServer({ ...deps.tls, handshakeTimeout: 10_000 }, (socket: TLSSocket) => {
      socket.setNoDelay(true);
      serve(socket);
    });
    // A failed handshake (an untrusting client, a scanner) is the client's problem, not an error of ours.
    tlsServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
    tlsPort = await listen(tlsServer, m.tlsPort, m.host, logger);
    servers.push(tlsServer);
    logger.info({ port: tlsPort, host: m.host }, 'MQTT over TLS listening');
  }

  return {
    port,
    tlsPort,
    aedes,
    publish,
    handleStream: serve,
    connectedClients: () => aedes.connectedClients,
    security: () => ({
      refusedConnects: { ...events.counts },
      secretChecks: hashes.started,
      secretChecksQueued: hashes.queued,
      secretFastChecks: verifiers.hits,
    }),
    setSecureContext(tls) {
      tlsServer?.setSecureContext(tls);
    },
    async stop() {
      events.stop();
      clientIds.flush();
      verifiers.flush();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
  'bad-credentials': 'ERR_BROKER_AUTH_FAILED: unknown client or wrong secret',
  throttled: 'ERR_BROKER_THROTTLED: too many failed connections; try again later',
  busy: 'ERR_BROKER_THROTTLED: too many connections being checked; try again later',
  'client-id-taken': 'ERR_BROKER_CLIENT_ID_REFUSED: the client id belongs to another client',
  'client-id-empty': 'ERR_BROKER_CLIENT_ID_REFUSED: a persistent session needs a client id',
};

/** The only topics a principal may receive: its own error topic (meters), its own alert topic (workers). */
function mayReceive(principal: Principal, topic: string): boolean {
  return principal.kind === 'meter'
    ? topic === TOPICS.meterErrors(principal.id)
    : topic === TOPICS.workerAlerts(principal.id) || topic === TOPICS.workerErrors(principal.id);
}

async function listen(server: Server, port: number, host: string, logger: Logger): Promise<number> {
  server.on('error', (err) => logger.error({ err }, 'MQTT server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
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
