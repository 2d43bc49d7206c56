import { writeServiceSettings } from './service-settings.ts';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/build-app.ts';
import { deadLetterRoutes } from '../api/routes/dead-letters.ts';
import { escalationRoutes } from '../api/routes/escalation.ts';
import { eventRoutes } from '../api/routes/events.ts';
import { ingestRoutes } from '../api/routes/ingest.ts';
import { statsRoutes } from '../api/routes/stats.ts';
import { webhookRoutes } from '../api/routes/webhooks.ts';
import { metricsRoutes } from '../api/routes/metrics.ts';
import { privacyRoutes } from '../api/routes/privacy.ts';
import { reportRoutes } from '../api/routes/reports.ts';
import { SqliteArchiveRepository } from '../archive/sqlite-repository.ts';
import { startArchive, type Archive } from '../archive/start-archive.ts';
import { attachBroker, type AttachedBroker } from '../broker/attach-broker.ts';
import { startBroker, type Broker, type BrokerSecurityStats } from '../broker/start-broker.ts';
import { attachMqttWebSocket } from '../broker/websocket-listener.ts';
import type { WebSocketServer } from 'ws';
import { ManualClock, systemClock, type Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { HashQueue } from '../core/hash-queue.ts';
import { LocalTime } from '../core/local-time.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { ServiceMetrics } from '../core/metrics.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { SqliteDetectorStateRepository } from '../detectors/sqlite-repository.ts';
import { openStore, type Store } from '../core/store/store.ts';
import type { MqttPublisher } from '../core/streams.ts';
import { TlsFiles } from '../core/tls-files.ts';
import { startDetectors, type Detectors } from '../detectors/start-detectors.ts';
import { SqliteIngestRepository } from '../ingest/sqlite-repository.ts';
import { startIngest, type Ingest } from '../ingest/start-ingest.ts';
import { startNotifier, type Notifier } from '../notifier/start-notifier.ts';
import { resolveAdminToken, resolveSessionKey, resolveVerifierKey } from './admin-token.ts';
import { observeAlertLatency } from './alert-latency.ts';
import { assertPortFree, listenError } from './listen-ports.ts';
import { detectorRoutes } from '../backtest/backtest.ts';
import { startRetention } from './retention.ts';
import { emqxHookRoutes } from '../broker/emqx-hooks.ts';
import { rabbitMqHookRoutes } from '../broker/rabbitmq-hooks.ts';
import { SecretVerifiers } from '../broker/secret-verifiers.ts';
import { startWalCheckpointer } from '../core/store/wal-checkpointer.ts';
import { followClusterRegistry } from './follow-cluster-tables.ts';

export interface CareflowDeps {
  clock?: Clock;
  logger?: Logger;
  /** Whether the HTTP API listens (tests may use `http.inject` instead). Default true. */
  listenHttp?: boolean;
}

export interface Careflow {
  readonly config: Config;
  readonly clock: Clock;
  readonly store: Store;
  readonly ingest: Ingest;
  readonly detectors: Detectors;
  readonly notifier: Notifier;
  /** The embedded broker, or careflow's client of the broker at `mqtt.url`. */
  readonly broker: Broker | AttachedBroker;
  /** The InfluxDB archive, when `archive.url` is configured. */
  readonly archive: Archive | undefined;
  readonly http: FastifyInstance;
  /** The plain MQTT port (0 when `mqtt.plain` is off). */
  readonly mqttPort: number;
  /** MQTT over TLS, when TLS is configured. */
  readonly mqttTlsPort: number | null;
  readonly httpPort: number;
  /** HTTPS (API, console, `wss`), when TLS is configured and HTTP listens. */
  readonly httpsPort: number | null;
  /** Re-reads the TLS certificate and key (SIGHUP); false when they did not load (the old pair stays). */
  reloadTls(): boolean;
  readonly adminToken: string;
  /** Saves meter and household state with the inbox cursor, in one transaction. */
  checkpoint(): void;
  /**
   * Resolves once every checkpointed household state is restored: at once for a small checkpoint, while the
   * service already takes input for a large one (clock ticks wait until then).
   */
  readonly restored: Promise<void>;
  /** Orderly shutdown: stop input, flush, checkpoint, close. */
  stop(): Promise<void>;
}

/**
 * The composition root: builds the whole service in one process on the embedded defaults
 * (SQLite store, Aedes broker, RxJS detectors, notifier, HTTP API).
 */
export async function startCareflow(config: Config, deps: CareflowDeps = {}): Promise<Careflow> {
  // A manual clock starts in 2000 and follows `POST /api/clock`; readings are refused until it is moved.
  const clock =
    deps.clock ??
    (config.clock === 'manual'
      ? new ManualClock(config.clockStart ? Date.parse(config.clockStart) : Date.UTC(2000, 0, 1))
      : systemClock);
  const logger = deps.logger ?? createLogger(config.logLevel);
  // A taken port is found before any work (recovery of a large inbox can take a while), and named.
  if (!config.mqtt.url && config.mqtt.plain)
    await assertPortFree('MQTT', 'CAREFLOW_MQTT_PORT', config.mqtt.host, config.mqtt.port);
  if (deps.listenHttp !== false && config.http.plain)
    await assertPortFree('HTTP', 'CAREFLOW_HTTP_PORT', config.http.host, config.http.port);
  mkdirSync(config.dataDir, { recursive: true });
  // Part of a cluster (RabbitMQ's auth backend): the registry and rules are the shared ones, pulled first.
  const sharedRegistry = config.cluster.postgresUrl ? await followClusterRegistry(config, logger) : undefined;
  const store = openStore({
    path: join(config.dataDir, 'careflow.db'),
    synchronous: config.store.synchronous,
  });
  // WAL checkpoints on a second thread: on the event loop they held every PUBACK up once a second.
  const walCheckpointer = await startWalCheckpointer(store.db, {
    synchronous: config.store.synchronous,
    onError: (message) => logger.warn(message),
  });
  // After a restart, a manual clock resumes at the arrival time of the newest stored reading (time never goes
  // back), so a replay resuming into it neither trips the future-timestamp check nor re-runs years of ticks.
  if (!deps.clock && clock instanceof ManualClock)
    clock.advanceTo(Math.max(clock.now(), store.inbox.lastReceivedAt()));
  const admin = resolveAdminToken(config.dataDir, config.adminToken);
  const effective: Config = { ...config, adminToken: admin.token };
  const localTime = new LocalTime(config.timezone, config.bucketMinutes);
  writeServiceSettings(config.dataDir, { timezone: config.timezone, bucketMinutes: config.bucketMinutes });

  const metrics = new ServiceMetrics(DEFAULT_RULES.map((r) => r.id));
  const ingestRepo = new SqliteIngestRepository(store, config.store.synchronous === 'FULL');
  const ingest = startIngest(effective, {
    repo: ingestRepo,
    meters: store.registry,
    clock,
    localTime,
    logger,
    metrics,
  });
  const detectors = startDetectors(effective, { inputs: ingest.inputs, clock, localTime, logger, store });
  const detectorStates = new SqliteDetectorStateRepository(store);
  // A large checkpoint (a city's households) is restored while the service already takes input: a household
  // not restored yet is restored when first touched, so its inputs follow its checkpoint; clock ticks wait.
  const background = detectorStates.many();
  let householdStates: 'restoring' | 'restored' | 'failed' = 'restoring';
  const restoreStarted = performance.now();
  const restored = detectors
    .loadBatches(detectorStates.stateBatches(), background ? (hid) => detectorStates.state(hid) : undefined)
    .then(() => {
      householdStates = 'restored';
      if (background)
        logger.info(
          {
            households: detectors.engine.householdCount(),
            seconds: Math.round(performance.now() - restoreStarted) / 1000,
          },
          'household states restored',
        );
    });
  if (background)
    restored.catch((err: unknown) => {
      householdStates = 'failed';
      logger.error({ err }, 'restoring household states failed');
    });
  else await restored;

  // The notifier exists before the broker (recovery may queue messages); it publishes once the broker is up.
  const brokerSlot: { current?: Broker | AttachedBroker } = {};
  const publisher: MqttPublisher = {
    publish: (topic, payload, qos) =>
      brokerSlot.current
        ? brokerSlot.current.publish(topic, payload, qos)
        : Promise.reject(new Error('broker not started')),
  };
  const notifier = startNotifier(effective, {
    store,
    clock,
    localTime,
    publisher,
    detections: detectors.detections,
    logger,
  });

  const stopLatency = observeAlertLatency(
    metrics,
    ingest.processingSince,
    detectors.detections,
    notifier.events,
  );

  const checkpoint = () => {
    if (!store.db.open) return;
    store.transaction(() => {
      ingest.writeCheckpoint();
      const changed: [string, Uint8Array][] = [];
      detectors.writeCheckpoint((hid, s) => changed.push([hid, s]));
      detectorStates.saveStates(changed);
    });
  };

  // Re-process whatever the inbox holds past the last checkpoint before taking new input.
  ingest.recover();
  checkpoint();

  // The archive follows the inbox from its own cursor; committed readings only wake it up.
  const archive = config.archive.url
    ? await startArchive(effective, {
        repository: new SqliteArchiveRepository(store),
        clock,
        logger,
        readings: ingest.readings,
      })
    : undefined;

  const tls =
    config.tls.certFile && config.tls.keyFile
      ? new TlsFiles(config.tls.certFile, config.tls.keyFile, logger.child({ module: 'tls' }))
      : null;
  // Should a port be taken after all (a race with another program), what was started stops and the error is named.
  const abandon = async (err: unknown, what: string, env: string, host: string, port: number) => {
    notifier.stopDelivery();
    await archive?.stop().catch(() => undefined);
    tls?.close();
    ingest.stop();
    notifier.stop();
    detectors.stop();
    await walCheckpointer?.stop();
    await sharedRegistry?.stop().catch(() => undefined);
    store.close();
    return listenError(err, what, env, host, port);
  };
  const broker = await (
    config.mqtt.url
      ? attachBroker(effective, { ingest, logger, now: () => clock.now(), workers: notifier.workers })
      : startBroker(effective, {
          store,
          metrics,
          ingest,
          logger,
          now: () => clock.now(),
          workers: notifier.workers,
          verifierKey: resolveVerifierKey(config.dataDir),
          ...(tls ? { tls: tls.material() } : {}),
        })
  ).catch(async (err: unknown) => {
    throw await abandon(err, 'MQTT', 'CAREFLOW_MQTT_PORT', config.mqtt.host, config.mqtt.port);
  });
  const brokerUp = () => ('aedes' in broker ? !broker.aedes.closed : broker.connected);
  const embedded = 'aedes' in broker ? broker : null;
  const mqttPort = embedded ? embedded.port : 0;
  const mqttTlsPort = embedded ? embedded.tlsPort : null;
  brokerSlot.current = broker;
  notifier.startDelivery();

  const checkpointTimer = setInterval(() => {
    try {
      checkpoint();
    } catch (err) {
      logger.error({ err }, 'checkpoint failed');
    }
  }, config.detectors.checkpointIntervalMs);
  checkpointTimer.unref();
  const retention = startRetention(config.store.bucketRetentionDays, {
    store,
    clock,
    logger,
    policy: config.privacy,
  });

  const passwordChecks = new HashQueue(config.http.passwordHashConcurrency, 100);
  // The keyed verifiers of device secrets the external brokers' hooks share (one set, whichever hooks are on).
  let verifiers: SecretVerifiers | undefined;
  const hookVerifiers = () =>
    (verifiers ??= new SecretVerifiers(store, resolveVerifierKey(config.dataDir), (err) =>
      logger.error({ err }, 'could not store secret verifiers'),
    ));
  const http = await buildApp({
    passwordChecks,
    config: effective,
    store,
    alerts: notifier.actions,
    clock,
    logger,
    sessionKey: resolveSessionKey(config.dataDir),
    metrics,
    health: () => ({
      ok: store.db.open && brokerUp() && !ingest.failure(),
      checks: {
        store: store.db.open ? 'ok' : 'closed',
        inboxWriter: ingest.failure() ? 'failed' : 'ok',
        broker: brokerUp() ? 'ok' : config.mqtt.url ? 'disconnected' : 'closed',
        mqttClients: broker.connectedClients(),
        inboxCursor: ingest.cursor(),
        householdStates,
        outboxPending: store.outbox.pendingCount(),
        archive: archive ? archiveHealth(archive) : 'disabled',
      },
    }),
    extraRoutes: [
      deadLetterRoutes,
      eventRoutes(notifier.events, config.notifier.sseHeartbeatMs),
      escalationRoutes,
      webhookRoutes,
      statsRoutes,
      reportRoutes,
      privacyRoutes({
        consentChanged: (householdId) => detectors.consentChanged(householdId),
        // State in flight is checkpointed, then deleted again: nothing about the household stays stored.
        erased: (householdId, meterIds) => {
          checkpoint();
          store.personalData.eraseState(householdId, meterIds);
        },
      }),
      ingestRoutes(ingest),
      ...detectorRoutes(detectors, store, localTime),
    ],
    rootRoutes: [
      // EMQX's HTTP authentication and authorisation hooks, when EMQX has a secret to call them with.
      ...(config.mqtt.emqxHookSecret
        ? [emqxHookRoutes({ config: effective, store, logger, metrics, verifiers: hookVerifiers() })]
        : []),
      // RabbitMQ's HTTP auth backend, when RabbitMQ has a secret to call it with.
      ...(config.mqtt.rabbitmqHookSecret
        ? [rabbitMqHookRoutes({ config: effective, store, logger, metrics, verifiers: hookVerifiers() })]
        : []),
      metricsRoutes({
        metrics,
        ingest: () => ingest.stats(),
        processingCursor: () => ingest.cursor(),
        mqttConnectedClients: () => broker.connectedClients(),
        security: () => ({
          ...(embedded ? embedded.security() : NO_BROKER_SECURITY),
          passwordChecks: passwordChecks.started,
          passwordChecksRefused: passwordChecks.refused,
        }),
        ...(archive ? { archive: () => archive.stats() } : {}),
      }),
    ],
  });
  let httpPort = config.http.port;
  let https: HttpsServer | null = null;
  let httpsPort: number | null = null;
  let websockets: WebSocketServer | undefined;
  if (deps.listenHttp !== false) {
    const servers = [];
    if (config.http.plain) {
      try {
        await http.listen({ port: config.http.port, host: config.http.host });
      } catch (err) {
        clearInterval(checkpointTimer);
        retention.stop();
        await http.close().catch(() => undefined);
        await broker.stop();
        throw await abandon(err, 'HTTP', 'CAREFLOW_HTTP_PORT', config.http.host, config.http.port);
      }
      const addr = http.server.address();
      httpPort = typeof addr === 'object' && addr ? addr.port : config.http.port;
      servers.push(http.server);
    } else httpPort = 0;
    if (tls) {
      // The same app behind HTTPS: every route, the console and `wss`.
      https = createHttpsServer({ ...tls.material(), handshakeTimeout: 10_000 }, (req, res) =>
        http.routing(req, res),
      );
      https.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
      httpsPort = await new Promise<number>((resolve, reject) => {
        https!.once('error', reject);
        https!.listen(config.http.tlsPort, config.http.host, () => {
          const addr = https!.address();
          resolve(typeof addr === 'object' && addr ? addr.port : config.http.tlsPort);
        });
      });
      servers.push(https);
    }
    // MQTT over WebSocket belongs to the embedded broker; an attached broker serves its own.
    if (config.mqtt.websocketPath && embedded)
      websockets = attachMqttWebSocket(
        servers,
        config.mqtt.websocketPath,
        config.mqtt.maxPacketBytes,
        embedded.handleStream,
      );
  }
  if (tls) {
    tls.onReload((m) => {
      embedded?.setSecureContext(m);
      https?.setSecureContext(m);
    });
    tls.watch();
  }
  logger.info(
    {
      mqttPort,
      mqttTlsPort,
      httpPort,
      httpsPort,
      dataDir: config.dataDir,
      adminTokenFile: admin.file,
    },
    'careflow started',
  );

  let stopped = false;
  return {
    config: effective,
    clock,
    store,
    ingest,
    detectors,
    notifier,
    broker,
    archive,
    http,
    mqttPort,
    mqttTlsPort,
    httpPort,
    httpsPort,
    adminToken: admin.token,
    reloadTls: () => tls?.reload() ?? false,
    checkpoint,
    restored,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(checkpointTimer);
      retention.stop();
      tls?.close();
      for (const ws of websockets?.clients ?? []) ws.terminate();
      websockets?.close();
      if (https) {
        const closed = new Promise<void>((resolve) => https!.close(() => resolve()));
        https.closeAllConnections();
        await closed;
      }
      await http.close();
      notifier.stopDelivery(); // what is still queued goes out after the next start
      await broker.stop();
      ingest.stop();
      await archive?.stop();
      checkpoint();
      stopLatency();
      notifier.stop();
      detectors.stop();
      await walCheckpointer?.stop();
      await sharedRegistry?.stop();
      store.close();
      logger.info('careflow stopped');
    },
  };
}

/** An attached broker checks credentials itself: careflow refuses no CONNECT and checks no secret. */
const NO_BROKER_SECURITY: BrokerSecurityStats = {
  refusedConnects: {
    'bad-credentials': 0,
    throttled: 0,
    busy: 0,
    'client-id-taken': 0,
    'client-id-empty': 0,
  },
  secretChecks: 0,
  secretChecksQueued: 0,
  secretFastChecks: 0,
};

/** The archive's part of `/healthz` (informative: a database outage does not make careflow unhealthy). */
function archiveHealth(archive: Archive) {
  const s = archive.stats();
  return { up: s.up, spoolReadings: s.spoolReadings, lagSeconds: s.lagSeconds, lastError: s.lastError };
}
