import { rmSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPartitions } from '../app/start-cluster-worker.ts';
import { readPartitionClock } from '../cluster/partition.ts';
import { startClusterWorker, type ClusterWorker } from '../cluster/worker.ts';
import { MQTT_EXCHANGE } from '../cluster/topology.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { eventually, seedRegistry, tempDataDir, testRegistry } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';
import { SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';

/**
 * The wall-clock floor of a partition's clock, on a real RabbitMQ and PostgreSQL: the meters send ten hours of
 * readings stamped a day and a half ago and then nothing. A partition's clock is event time, so without the
 * floor it would stay where the last reading left it and no silence would ever be raised; with it, the worker
 * moves the clocks of the idle partitions to the present and the silences open. When that worker stops, the
 * next one finds the partitions' last commit stale, takes them over and keeps their clocks moving, without
 * raising the same silences again.
 */
const HOUR = 3_600_000;
const LAG_MS = 60_000;
const PARTITIONS = 2;

const logger = createLogger(process.env.DBG ? 'info' : 'silent');
const skip = SKIP_POSTGRES || SKIP_RABBITMQ;
const registry = testRegistry(2);
const meterIds = (registry.meters ?? []).map((m) => m.id);

let pg: Postgres;
let rabbit: RabbitMq;
let pool: PgPool;
let dir: string;
let store: Store;
const running: ClusterWorker[] = [];

async function startWorker(): Promise<ClusterWorker> {
  const config = loadConfig(
    {},
    {
      dataDir: dir,
      cluster: {
        amqpUrl: rabbit.amqpUrl,
        postgresUrl: pg.url,
        partitions: PARTITIONS,
        standbyDelayMs: 0,
        clockFloorLagMs: LAG_MS,
        clockFloorMaxJumpMs: 3 * 24 * HOUR,
      },
    },
  );
  const { openPartition } = await clusterPartitions(config, logger, pool, store);
  const w = await startClusterWorker({
    config,
    logger,
    meters: store.registry,
    openPartition,
    partitionClock: (p) => readPartitionClock(pool, p),
    floorEveryMs: 300,
  });
  running.push(w);
  return w;
}

async function clocks(): Promise<number[]> {
  const out: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const row = await readPartitionClock(pool, p);
    if (row?.clock != null) out.push(row.clock);
  }
  return out;
}

async function alerts(): Promise<{ id: string; rule: string; household: string }[]> {
  const { rows } = await pool.query<{ id: string; rule: string; household: string }>(
    'SELECT id, rule_id AS rule, household_id AS household FROM alerts ORDER BY id',
  );
  return rows;
}

beforeAll(async () => {
  if (skip) return;
  dir = tempDataDir();
  await seedRegistry(dir, registry);
  store = openStore({ path: join(dir, 'careflow.db') });
  [pg, rabbit] = await Promise.all([startPostgres(), startRabbitMq()]);
  pool = openPgPool(pg.url);
}, 180_000);

afterAll(async () => {
  for (const w of running) await w.stop().catch(() => {});
  await pool?.end();
  store?.close();
  await rabbit?.dispose();
  await pg?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(skip)('a partition whose meters all stop', () => {
  it('is moved to the present by the wall-clock floor, and taken over by the next worker when its holder stops', async () => {
    const first = await startWorker();
    const start = Date.now() - 36 * HOUR;
    // Ten hours of ordinary use from every meter, stamped a day and a half ago, through RabbitMQ's MQTT exchange.
    const conn = await amqp.connect(rabbit.amqpUrl);
    const ch = await conn.createConfirmChannel();
    meterIds.forEach((meterId, i) => {
      const readings = Array.from({ length: 10 }, (_, h) => ({
        ts: new Date(start + h * HOUR).toISOString(),
        totalLiters: 1000 + i + h * 12,
      }));
      ch.publish(MQTT_EXCHANGE, `meters.${meterId}.readings`, Buffer.from(JSON.stringify({ readings })));
    });
    await ch.waitForConfirms();
    await conn.close();

    // The readings are committed, then the floor moves every partition's clock to the present.
    await eventually(() => first.stats().committedReadings === meterIds.length * 10, 60_000);
    await eventually(async () => {
      const cs = await clocks();
      return cs.length > 0 && cs.every((c) => c >= Date.now() - LAG_MS - 5_000);
    }, 60_000);
    expect(first.stats().floorAdvances).toBeGreaterThan(0);

    // Every household fell silent a day and a half ago: its silence (or its grid's outage) is raised.
    await eventually(async () => new Set((await alerts()).map((a) => a.household)).size > 0, 30_000);
    const raised = await alerts();
    expect(raised.length).toBeGreaterThan(0);
    for (const a of raised) expect(['meter-silent', 'welfare-silent', 'meter-outage']).toContain(a.rule);

    // The holder stops; the next worker finds the partitions stale, takes them over and moves them on.
    await first.stop();
    const left = await clocks();
    const second = await startWorker();
    // Only the partitions that ever had readings have a clock to keep moving (the others have nothing to watch).
    await eventually(
      () => second.stats().restores >= left.length && second.stats().floorAdvances > 0,
      30_000,
    );
    await eventually(async () => {
      const now = await clocks();
      return now.every((c, i) => c > left[i]!);
    }, 30_000);
    // Restored with its detector state: nothing raised twice.
    expect(await alerts()).toEqual(raised);
  }, 180_000);
});
