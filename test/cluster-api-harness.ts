import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { clusterSharedSets } from '../app/follow-cluster-tables.ts';
import { PgAlertFeed } from '../cluster/alert-feed.ts';
import { CLUSTER_PG_MIGRATIONS } from '../cluster/postgres-migrations.ts';
import { PgUnitOfWork } from '../cluster/unit-of-work.ts';
import type { Alert } from '../core/alerts.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { migratePg, openPgPool, type PgPool } from '../core/postgres.ts';
import type { RegistryInput } from '../core/registry.ts';
import { followSharedTables, type SharedFollower } from '../core/shared-follower.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { ADMIN_TOKEN, seedRegistry, tempDataDir } from './harness.ts';
import { openAlertRow } from './open-alert.ts';
import { startPostgres, type Postgres } from './postgres.ts';
import { buildClusterApp } from '../app/cluster-api.ts';

/** One worker's HTTP side (app/cluster-api.ts, as `careflow start --cluster` composes it). */
export interface WorkerApi {
  app: FastifyInstance;
  base: string;
  /** The worker's embedded store: the shared tables it follows. */
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
    const app = await buildClusterApp({
      config,
      logger,
      pool,
      store,
      follower,
      uow,
      alerts: repo,
      escalations: esc,
      notifier,
      feed,
      metricsText: () =>
        Promise.resolve({ contentType: 'text/plain; version=0.0.4', body: 'careflow_cluster_test 1\n' }),
      operations: (root) => root.get('/healthz', () => ({ status: 'ok' })),
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
