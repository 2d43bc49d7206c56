import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/build-app.ts';
import { clusterSharedSets } from '../app/follow-cluster-tables.ts';
import { PgAlertDesk } from '../cluster/alert-desk.ts';
import { PgAlertFeed } from '../cluster/alert-feed.ts';
import { sharedEscalationWriter } from '../cluster/escalation-writer.ts';
import { householdFactsOf } from '../cluster/household-facts.ts';
import { pgAlertFigures } from '../cluster/alert-figures.ts';
import { PgDeadLetterReader } from '../ingest/postgres-dead-letters.ts';
import { sharedAwayWriter } from '../cluster/away-writer.ts';
import { followedRuleBook, sharedRuleAdmin } from '../cluster/rule-admin.ts';
import { pgBacktestHistory } from '../cluster/backtest-history.ts';
import { pgAlertFacts, pgPlacedAlerts } from '../cluster/report-facts.ts';
import { createBacktester } from '../backtest/backtest.ts';
import { ConsentGate } from '../detectors/consent-gate.ts';
import { sharedApiKeyWriter } from '../cluster/api-key-writer.ts';
import { readAudit, writeAudit } from '../cluster/audit-log.ts';
import { PgLoginFailures } from '../cluster/login-failures.ts';
import { CLUSTER_PG_MIGRATIONS } from '../cluster/postgres-migrations.ts';
import { clusterSessionKey } from '../cluster/session-key.ts';
import { PgUnitOfWork } from '../cluster/unit-of-work.ts';
import type { Alert } from '../core/alerts.ts';
import { systemClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { createLogger } from '../core/logger.ts';
import { migratePg, openPgPool, type PgPool } from '../core/postgres.ts';
import type { RegistryInput } from '../core/registry.ts';
import { followSharedTables, type SharedFollower } from '../core/shared-follower.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { PgIngestRepository } from '../ingest/postgres-repository.ts';
import { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { REGISTRY_SET } from '../registry/tables.ts';
import { ADMIN_TOKEN, seedRegistry, tempDataDir } from './harness.ts';
import { openAlertRow } from './open-alert.ts';
import { startPostgres, type Postgres } from './postgres.ts';

/** One worker's HTTP side, composed as app/start-cluster-worker.ts composes it. */
export interface WorkerApi {
  app: FastifyInstance;
  base: string;
  /** The worker's embedded store: the registry and escalation chains it follows. */
  store: Store;
  feed: PgAlertFeed;
  follower: SharedFollower;
  dir: string;
}

export interface ClusterApis {
  pool: PgPool;
  alerts: PgAlertRepository;
  escalations: PgEscalationRepository;
  workers: WorkerApi[];
  /** Opens an alert as a partition does (the alert, its `opened` entry and its chain, one transaction). */
  openAlert(
    id: string,
    opts?: { grid?: string; household?: string; via?: WorkerApi; fields?: Partial<Alert> },
  ): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * A real PostgreSQL with `registry` imported once into it (`careflow import --cluster`) and `workers` cluster
 * workers' HTTP apps on it, each with its own data directory following the shared tables a worker follows,
 * listening on 127.0.0.1. No RabbitMQ: the apps' alerts are written to PostgreSQL as a partition writes them.
 */
export async function startClusterApis(
  registry: RegistryInput,
  opts: { workers: number; feedPollMs: number; loginMaxFailures?: number },
): Promise<ClusterApis> {
  const logger = createLogger(process.env.DBG ? 'info' : 'silent');
  const seeded = tempDataDir();
  await seedRegistry(seeded, registry);
  const pgServer: Postgres = await startPostgres();
  const pool = openPgPool(pgServer.url);
  const workers: WorkerApi[] = [];
  const dispose = async () => {
    for (const w of workers) {
      await w.app.close();
      await w.feed.stop();
      await w.follower.stop();
      w.store.close();
      rmSync(w.dir, { recursive: true, force: true });
    }
    await pool.end();
    await pgServer.dispose();
    rmSync(seeded, { recursive: true, force: true });
  };
  try {
    await migratePg(pool, 'cluster', CLUSTER_PG_MIGRATIONS);
    await importRegistryShared(pool, registry);
    for (let i = 0; i < opts.workers; i++) workers.push(await startWorkerApi());
  } catch (err) {
    await dispose().catch(() => {});
    throw err;
  }

  async function startWorkerApi(): Promise<WorkerApi> {
    const dir = tempDataDir();
    copyFileSync(join(seeded, 'careflow.db'), join(dir, 'careflow.db'));
    const follower = await followSharedTables({
      pool,
      storePath: join(dir, 'careflow.db'),
      sets: await clusterSharedSets(),
      pollMs: 60_000,
      logger,
    });
    const store = openStore({ path: join(dir, 'careflow.db') });
    const uow = new PgUnitOfWork(pool);
    const repo = await PgAlertRepository.open(uow.pool);
    const esc = await PgEscalationRepository.open(uow.pool);
    const notifier = new SharedStoreNotifier(store, repo, await PgOutboxRepository.open(uow.pool), esc);
    const ingest = await PgIngestRepository.open(pool);
    const feed = await PgAlertFeed.start(repo, logger, opts.feedPollMs);
    const config = loadConfig(
      {},
      {
        dataDir: dir,
        adminToken: ADMIN_TOKEN,
        logLevel: 'silent',
        http: {
          host: '127.0.0.1',
          port: 0,
          rateLimitPerMinute: 0,
          ...(opts.loginMaxFailures ? { loginMaxFailures: opts.loginMaxFailures } : {}),
        },
      },
    );
    const book = followedRuleBook(store, config);
    const app = await buildApp({
      config,
      store,
      clock: systemClock,
      logger,
      sessionKey: await clusterSessionKey(pool),
      cluster: {
        desk: new PgAlertDesk({ directory: store, alerts: repo, escalations: esc, notifier, uow }),
        usage: { range: (h, from, to) => ingest.usageRange(h, from, to) },
        feed,
        loginFailures: new PgLoginFailures(pool),
        escalation: sharedEscalationWriter(pool, [REGISTRY_SET], follower),
        householdFacts: (ids) => householdFactsOf(pool, ids),
        figures: pgAlertFigures(pool),
        deadLetters: new PgDeadLetterReader(pool),
        readAudit: (f) => readAudit(pool, f),
        alertFacts: pgAlertFacts(pool),
        placedAlerts: pgPlacedAlerts(pool),
        apiKeys: sharedApiKeyWriter(pool, follower),
        metricsText: () =>
          Promise.resolve({ contentType: 'text/plain; version=0.0.4', body: 'careflow_cluster_test 1\n' }),
        away: sharedAwayWriter(pool, follower),
        rules: sharedRuleAdmin(book, config, pool, follower),
        backtester: createBacktester({
          store,
          book,
          localTime: new LocalTime(config.timezone, config.bucketMinutes),
          consent: new ConsentGate(store, config.privacy),
          history: pgBacktestHistory(pool),
        }),
        writeAudit: (entry) =>
          void writeAudit(pool, entry).catch((err: unknown) =>
            logger.error({ err }, 'could not write an audit entry'),
          ),
        operations: (root) => root.get('/healthz', () => ({ status: 'ok' })),
      },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return { app, base: `http://127.0.0.1:${port}`, store, feed, follower, dir };
  }

  return {
    pool,
    alerts: await PgAlertRepository.open(pool),
    escalations: await PgEscalationRepository.open(pool),
    workers,
    async openAlert(id, o = {}) {
      const grid = o.grid ?? 'g1';
      const at = Date.now();
      const alert: Alert = {
        ...openAlertRow(
          { id, householdId: o.household ?? `h-${grid}-1`, gridCode: grid, ruleId: `rule-${id}` },
          at,
        ),
        ...o.fields,
      };
      const uow = new PgUnitOfWork(pool);
      const repo = await PgAlertRepository.open(uow.pool);
      const notifier = new SharedStoreNotifier(
        (o.via ?? workers[0]!).store,
        repo,
        await PgOutboxRepository.open(uow.pool),
        await PgEscalationRepository.open(uow.pool),
      );
      const text = { 'zh-CN': `${id} 用水异常`, en: `${id}: unusual water use` };
      await uow.run(async () => {
        await repo.insert(alert);
        const causeId = await repo.addTimeline(id, { at, kind: 'opened', actor: null, detail: {} });
        await notifier.begin(alert, text, text, causeId, at);
      });
    },
    dispose,
  };
}
