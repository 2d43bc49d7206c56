import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import { startAckConsumer, type AckConsumer } from '../cluster/ack-consumer.ts';
import { PgAlertFeed } from '../cluster/alert-feed.ts';
import { ClusterAlertWriter } from '../cluster/alert-writer.ts';
import {
  escalateOnFailedDelivery,
  startEscalationSteps,
  type EscalationSteps,
} from '../cluster/escalation-steps.ts';
import { ClusterGridShares } from '../cluster/grid-shares.ts';
import { startOutboxRelay, type OutboxRelay } from '../cluster/outbox-relay.ts';
import { PartitionProcessor, readPartitionClock } from '../cluster/partition.ts';
import { CLUSTER_PG_MIGRATIONS } from '../cluster/postgres-migrations.ts';
import { PgUnitOfWork } from '../cluster/unit-of-work.ts';
import { startClusterWorker, type ClusterWorker } from '../cluster/worker.ts';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { LocalTime } from '../core/local-time.ts';
import { migratePg, openPgPool, type PgPool } from '../core/postgres.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { PgDetectorStateRepository } from '../detectors/postgres-repository.ts';
import { INGEST_PG_MIGRATIONS } from '../ingest/postgres-migrations.ts';
import { PgIngestRepository } from '../ingest/postgres-repository.ts';
import { systemClock } from '../core/clock.ts';
import { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import { followClusterTables } from './follow-cluster-tables.ts';
import { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import { WebhookChannel } from '../notifier/webhook-channel.ts';
import { buildClusterApp } from './cluster-api.ts';
import { PgArchiveRepository } from '../archive/postgres-repository.ts';
import { startArchive, type Archive, type ArchiveStats } from '../archive/start-archive.ts';
import { SingletonLease, type LeasedJob } from '../cluster/singleton-lease.ts';
import { startClusterHttpIngest, type ClusterHttpIngest } from '../cluster/http-ingest.ts';
import { pruneShared } from '../cluster/retention.ts';

/** How often a worker reads new alert timeline entries for its consoles' `/api/events`. */
const FEED_POLL_MS = 1_000;
/** Between pulls while a partition's restore waits for the registry an erasure published. */
const REGISTRY_WAIT_MS = 200;
/** The archive's advisory lock ('archive' in ASCII, shortened to fit a bigint). */
const ARCHIVE_LOCK_KEY = '97114099104105';
/** The retention job's advisory lock ('retention' in ASCII, shortened to fit a bigint). */
const RETENTION_LOCK_KEY = '114101116101110';
const RETENTION_EVERY_MS = 6 * 3_600_000;
/** How often a worker tries to take the archive over, and the holder checks its lock's connection. */
const ARCHIVE_LEASE_CHECK_MS = 5_000;

/**
 * Composes a cluster worker (preview, `careflow start --cluster`): readings from RabbitMQ's partitioned queue,
 * run per partition through ingest's normaliser and the detectors, and committed with the partition's checkpoint
 * and alerts to PostgreSQL through the modules' repositories, in one transaction per batch; the registry (meter
 * assignments, households, people, consent) imported once into PostgreSQL (`careflow import --cluster`) and
 * followed by every worker into the embedded store in its data directory, which its detectors and notifier read
 * synchronously (core/shared-follower.ts: a re-import reaches every worker within `cluster.registryPollMs`); the
 * rule hierarchy the same way (`careflow rules set --cluster`); the messages those alerts cause are queued in the same transaction and delivered by every worker's
 * outbox relay (cluster/outbox-relay.ts) through RabbitMQ's MQTT topics; every worker runs the escalation chains'
 * due steps (cluster/escalation-steps.ts) and applies the apps' acknowledgements from a shared queue
 * (cluster/ack-consumer.ts); on the HTTP port, the console and its API from PostgreSQL and the tables it follows
 * (app/cluster-api.ts: an acknowledgement through any worker stops the chain, which every worker runs from the
 * shared record), `/healthz` and `/readyz`, and `/metrics` (partitions owned, consumer lag) for `metrics:read`.
 */
export interface RunningClusterWorker {
  worker: ClusterWorker;
  httpPort: number;
  /** Resolves when the worker lost RabbitMQ and stopped (the process should exit for its supervisor). */
  lost: Promise<Error>;
  stop(): Promise<void>;
}

export async function startClusterWorkerService(
  config: Config,
  logger: Logger,
): Promise<RunningClusterWorker> {
  const { amqpUrl, postgresUrl } = config.cluster;
  if (!amqpUrl || !postgresUrl)
    throw new CareflowError(
      'ERR_CONFIG_INVALID',
      'cluster mode needs cluster.amqpUrl (CAREFLOW_AMQP_URL) and cluster.postgresUrl (CAREFLOW_POSTGRES_URL)',
    );
  const pool = openPgPool(postgresUrl);
  let store: Store | undefined;
  let app: FastifyInstance | undefined;
  let worker: ClusterWorker | undefined;
  let relay: OutboxRelay | undefined;
  let steps: EscalationSteps | undefined;
  let acks: AckConsumer | undefined;
  let registry: SharedFollower | undefined;
  let feed: PgAlertFeed | undefined;
  let httpIngest: ClusterHttpIngest | undefined;
  let archiveLease: SingletonLease | undefined;
  let archive: Archive | undefined;
  let retentionLease: SingletonLease | undefined;
  try {
    // The registry and rules in force before any partition is taken over (the detectors read them from the store).
    registry = await followClusterTables(config, pool, logger);
    store = openStore({ path: join(config.dataDir, 'careflow.db') });
    const follower = registry;
    const { openPartition, uow, notifier, escalations } = await clusterPartitions(
      config,
      logger,
      pool,
      store,
      (version) => registryReached(follower, version),
    );
    const alertRepo = await PgAlertRepository.open(uow.pool);
    relay = await startOutboxRelay({
      amqpUrl,
      outbox: await PgOutboxRepository.open(uow.pool),
      alerts: alertRepo,
      uow,
      webhooks: new WebhookChannel(store, systemClock, config.notifier.webhookTimeoutMs),
      policy: config.notifier,
      logger,
      escalation: escalateOnFailedDelivery({ escalations, alerts: alertRepo, notifier, logger }),
    });
    const r = relay;
    steps = startEscalationSteps({
      escalations,
      alerts: alertRepo,
      notifier,
      uow,
      logger,
      onQueued: () => r.kick(),
    });
    acks = await startAckConsumer({
      amqpUrl,
      directory: store,
      alerts: alertRepo,
      outbox: await PgOutboxRepository.open(uow.pool),
      escalations,
      uow,
      logger,
    });
    worker = await startClusterWorker({
      config,
      logger,
      meters: store.registry,
      openPartition,
      partitionClock: (partition) => readPartitionClock(pool, partition),
      onCommitted: (b) => {
        if (b.detections > 0) r.kick();
      },
    });
    if (config.archive.url) {
      // One worker at a time writes the archive, from the shared inbox; another takes over when it goes.
      const repository = await PgArchiveRepository.open(pool);
      archiveLease = new SingletonLease(
        pool,
        async () => {
          const running = await startArchive(config, { repository, clock: systemClock, logger });
          archive = running;
          return {
            stop: async () => {
              archive = undefined;
              await running.stop();
            },
          };
        },
        { key: ARCHIVE_LOCK_KEY, name: 'archive', checkMs: ARCHIVE_LEASE_CHECK_MS, logger },
      );
      archiveLease.begin();
    }
    // One worker at a time prunes the shared store to the retention periods.
    retentionLease = new SingletonLease(pool, async () => sharedRetention(config, pool, logger), {
      key: RETENTION_LOCK_KEY,
      name: 'retention',
      checkMs: ARCHIVE_LEASE_CHECK_MS,
      logger,
    });
    retentionLease.begin();
    const lease = archiveLease;
    const archiveStats = () =>
      lease ? { held: lease.held(), ...(archive ? archive.stats() : {}) } : undefined;
    const metrics = workerMetrics(worker, relay, registry, archiveStats);
    const w = worker;
    const [st, ak, rg] = [steps, acks, registry];
    feed = await PgAlertFeed.start(alertRepo, logger, FEED_POLL_MS);
    const deadLetters = await PgIngestRepository.open(pool);
    httpIngest = await startClusterHttpIngest(config, logger, store.registry, (letter) =>
      deadLetters.addDeadLetter(letter),
    );
    app = await buildClusterApp({
      config,
      logger,
      pool,
      store,
      follower: rg,
      uow,
      alerts: alertRepo,
      escalations,
      notifier,
      feed,
      onQueued: () => r.kick(),
      httpIngest,
      metricsText: async () => ({ contentType: metrics.contentType, body: await metrics.metrics() }),
      operations: (root) => {
        root.get('/healthz', () => ({
          status: 'ok',
          ...w.stats(),
          outbox: r.stats(),
          escalation: st.stats(),
          acknowledgements: ak.stats(),
          registry: rg.stats().registry,
          rules: rg.stats().rules,
          escalationSettings: rg.stats().escalation,
          awayMarks: rg.stats().away,
          apiKeys: rg.stats().apiKeys,
          ...(lease ? { archive: archiveStats() } : {}),
        }));
        root.get('/readyz', async (_req, reply) => {
          const ready = w.stats().ready;
          return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'starting' });
        });
      },
    });
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    await retentionLease?.stop().catch(() => {});
    await archiveLease?.stop().catch(() => {});
    await worker?.stop().catch(() => {});
    await acks?.stop().catch(() => {});
    await steps?.stop().catch(() => {});
    await relay?.stop().catch(() => {});
    await app?.close().catch(() => {});
    await feed?.stop().catch(() => {});
    await httpIngest?.stop().catch(() => {});
    await registry?.stop().catch(() => {});
    store?.close();
    await pool.end().catch(() => {});
    throw err;
  }
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
  const w = worker;
  const r = relay;
  const [st, ak, rg] = [steps!, acks!, registry!];
  const a = app;
  const s = store;
  const f = feed!;
  const hi = httpIngest!;
  const ar = archiveLease;
  const rl = retentionLease;
  return {
    worker: w,
    httpPort,
    lost: Promise.race([w.lost, r.lost, ak.lost, hi.lost]),
    async stop() {
      await rl?.stop();
      await ar?.stop();
      await w.stop();
      await ak.stop();
      await st.stop();
      await r.stop();
      await a.close();
      await f.stop();
      await hi.stop();
      await rg.stop();
      s.close();
      await pool.end();
    },
  };
}

/**
 * What takes a partition over: the modules' PostgreSQL repositories on one unit of work (a batch commits in one
 * transaction), the worker's registry and rules, and the partition's checkpoint restored. `uow`: the unit of
 * work, for the worker's other users of the shared store; `notifier` and `escalations`, for the escalation steps
 * and acknowledgements.
 */
export async function clusterPartitions(
  config: Config,
  logger: Logger,
  pool: PgPool,
  store: Store,
  /** Resolves once this worker's registry has reached a version (after an erasure); see PartitionDeps. */
  registryAtLeast?: (version: number) => Promise<void>,
): Promise<{
  openPartition: (partition: number) => Promise<PartitionProcessor>;
  uow: PgUnitOfWork;
  notifier: SharedStoreNotifier;
  escalations: PgEscalationRepository;
}> {
  const uow = new PgUnitOfWork(pool);
  // Every module's tables exist before the worker says it is running, not only once it owns a partition (the
  // API, monitoring and the other workers may read them first).
  await migratePg(pool, 'ingest', INGEST_PG_MIGRATIONS);
  await migratePg(pool, 'cluster', CLUSTER_PG_MIGRATIONS);
  const detectorStates = await PgDetectorStateRepository.open(uow.pool);
  const alertRepo = await PgAlertRepository.open(uow.pool);
  const localTime = new LocalTime(config.timezone, config.bucketMinutes);
  const escalations = await PgEscalationRepository.open(uow.pool);
  const notifier = new SharedStoreNotifier(
    store,
    alertRepo,
    await PgOutboxRepository.open(uow.pool),
    escalations,
    Date.now,
    config.notifier.groupWindowMs,
  );
  const alerts = new ClusterAlertWriter(
    alertRepo,
    (hid) => store.registry.household(hid)?.gridCode,
    notifier,
    store,
    localTime,
  );
  const owner = `${hostname()}:${process.pid}`;
  // One read of every grid's shares a second for all this worker's partitions (the outage watch across them).
  const gridShares = new ClusterGridShares(pool, config.cluster.partitions);
  const openPartition = async (partition: number) =>
    PartitionProcessor.restore({
      partition,
      owner,
      config,
      logger,
      localTime,
      store,
      gridShares: gridShares.forPartition(partition),
      ...(registryAtLeast ? { registryAtLeast } : {}),
      repos: {
        uow,
        ingest: await PgIngestRepository.open(uow.pool, { cursorName: `partition-${partition}` }),
        detectorStates,
        alerts,
      },
    });
  return { openPartition, uow, notifier, escalations };
}

/**
 * The retention job while this worker holds its lease: prunes at once and every six hours (wall clock), as the
 * embedded service does (app/retention.ts).
 */
function sharedRetention(config: Config, pool: PgPool, logger: Logger): LeasedJob {
  const log = logger.child({ module: 'retention' });
  const policy = { ...config.privacy, bucketRetentionDays: config.store.bucketRetentionDays };
  const run = async () => {
    try {
      const pruned = await pruneShared(pool, policy, Date.now());
      if (pruned.buckets + pruned.readings + pruned.alerts > 0) log.info(pruned, 'old rows pruned');
    } catch (err) {
      log.error({ err }, 'retention failed; trying again at the next run');
    }
  };
  let running = run();
  const timer = setInterval(() => {
    running = running.then(run);
  }, RETENTION_EVERY_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** Pulls the shared sets until this worker's registry is at `version` or later. */
async function registryReached(follower: SharedFollower, version: number): Promise<void> {
  for (;;) {
    if ((follower.stats().registry?.version ?? 0) >= version) return;
    await follower.poll();
    if ((follower.stats().registry?.version ?? 0) >= version) return;
    await new Promise((r) => setTimeout(r, REGISTRY_WAIT_MS));
  }
}

function workerMetrics(
  worker: ClusterWorker,
  relay: OutboxRelay,
  follower: SharedFollower,
  archive: () => ({ held: boolean } & Partial<ArchiveStats>) | undefined,
): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'careflow_cluster_registry_version',
    help: 'Version of the shared registry this worker holds (careflow import --cluster raises it; 0: none)',
    registers: [registry],
    collect() {
      this.set(follower.stats().registry?.version ?? 0);
    },
  });
  new Gauge({
    name: 'careflow_cluster_rules_version',
    help: 'Version of the shared rules this worker holds (careflow rules set --cluster raises it; 0: none)',
    registers: [registry],
    collect() {
      this.set(follower.stats().rules?.version ?? 0);
    },
  });
  new Gauge({
    name: 'careflow_cluster_escalation_settings_version',
    help: 'Version of the shared escalation chains this worker holds (set through any worker; 0: none)',
    registers: [registry],
    collect() {
      this.set(follower.stats().escalation?.version ?? 0);
    },
  });
  const stats = () => worker.stats();
  new Gauge({
    name: 'careflow_cluster_outbox_sent',
    help: 'Outbox messages this worker delivered (MQTT: confirmed by RabbitMQ; webhook: 2xx)',
    registers: [registry],
    collect() {
      this.set(relay.stats().sent);
    },
  });
  new Gauge({
    name: 'careflow_cluster_outbox_failed',
    help: 'Outbox messages this worker gave up on (retries exhausted)',
    registers: [registry],
    collect() {
      this.set(relay.stats().failed);
    },
  });
  new Gauge({
    name: 'careflow_cluster_partitions_owned',
    help: 'Partitions this worker is the active consumer of (deliveries in the last 10 s)',
    registers: [registry],
    collect() {
      this.set(stats().partitions.filter((p) => p.active).length);
    },
  });
  new Gauge({
    name: 'careflow_cluster_partitions_subscribed',
    help: 'Partitions this worker consumes or stands by for',
    registers: [registry],
    collect() {
      this.set(stats().partitions.filter((p) => p.subscribed).length);
    },
  });
  new Gauge({
    name: 'careflow_cluster_partition_lag',
    help: 'Readings waiting in a partition owned by this worker (consumer lag)',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of stats().partitions)
        if (p.active && p.lag !== null) this.set({ partition: String(p.partition) }, p.lag);
    },
  });
  new Gauge({
    name: 'careflow_cluster_committed_readings',
    help: 'Readings this worker committed to the shared store and then acknowledged',
    registers: [registry],
    collect() {
      this.set(stats().committedReadings);
    },
  });
  new Gauge({
    name: 'careflow_cluster_commit_failures',
    help: 'Commits to the shared store that failed (and were retried)',
    registers: [registry],
    collect() {
      this.set(stats().commitFailures);
    },
  });
  new Gauge({
    name: 'careflow_cluster_floor_advances',
    help: "Partition clocks moved forward by the wall-clock floor while none of the partition's meters sent",
    registers: [registry],
    collect() {
      this.set(stats().floorAdvances);
    },
  });
  const archiveGauge = (
    name: string,
    help: string,
    value: (a: Partial<ArchiveStats>) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const a = archive();
        const v = a?.held ? value(a) : undefined;
        if (v === undefined) this.reset();
        else this.set(v);
      },
    });
  new Gauge({
    name: 'careflow_cluster_archive_held',
    help: '1 while this worker writes the archive (one worker of the cluster does), 0 on the others; absent without one',
    registers: [registry],
    collect() {
      const a = archive();
      if (a === undefined) this.reset();
      else this.set(a.held ? 1 : 0);
    },
  });
  archiveGauge('careflow_archive_up', '0 while archive writes are failing (on the worker writing it)', (a) =>
    a.up === undefined ? undefined : a.up ? 1 : 0,
  );
  archiveGauge(
    'careflow_archive_spool_readings',
    'Committed readings not yet written to the archive (on the worker writing it)',
    (a) => a.spoolReadings,
  );
  archiveGauge(
    'careflow_archive_lag_seconds',
    'Age of the oldest reading not yet archived (on the worker writing it)',
    (a) => a.lagSeconds,
  );
  return registry;
}
