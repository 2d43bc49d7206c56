import { rmSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPartitions } from '../app/start-cluster-worker.ts';
import { OUTAGE_RULE_ID, outageHouseholdId } from '../core/alerts.ts';
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
 * Correlated silence across partitions, on a real RabbitMQ and PostgreSQL with two workers holding two
 * partitions each: meters are routed by meter id, so grid g1's 30 meters are spread over all four partitions.
 * 24 of them stop together for twelve hours; one meter of grid g2 stops alone. As in one process, the cluster
 * raises one outage for g1 (to maintenance) and no silence for any of the 24 meters it explains, in whichever
 * partition they are — while the lone meter of g2 gets its own `meter-silent` ticket.
 */
const HOUR = 3_600_000;
const PARTITIONS = 4;

const logger = createLogger(process.env.DBG ? 'info' : 'silent');
const skip = SKIP_POSTGRES || SKIP_RABBITMQ;
const registry = testRegistry(30);
const meterIds = (registry.meters ?? []).map((m) => m.id);
const stopping = new Set([...Array.from({ length: 24 }, (_, i) => `m-g1-${i + 1}`), 'm-g2-1']);

let pg: Postgres;
let rabbit: RabbitMq;
let pool: PgPool;
const dirs: string[] = [];
const stores: Store[] = [];
const running: ClusterWorker[] = [];

async function startWorker(prefer: string): Promise<ClusterWorker> {
  const dir = tempDataDir();
  dirs.push(dir);
  await seedRegistry(dir, registry);
  const store = openStore({ path: join(dir, 'careflow.db') });
  stores.push(store);
  const config = loadConfig(
    {},
    {
      dataDir: dir,
      cluster: {
        amqpUrl: rabbit.amqpUrl,
        postgresUrl: pg.url,
        partitions: PARTITIONS,
        prefer,
        // Each worker keeps to its own two partitions for the whole test.
        standbyDelayMs: 600_000,
        clockFloorLagMs: 0,
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
  });
  running.push(w);
  return w;
}

async function alerts(): Promise<{ rule: string; household: string }[]> {
  const { rows } = await pool.query<{ rule: string; household: string }>(
    'SELECT rule_id AS rule, household_id AS household FROM alerts ORDER BY household_id, rule_id',
  );
  return rows;
}

beforeAll(async () => {
  if (skip) return;
  [pg, rabbit] = await Promise.all([startPostgres(), startRabbitMq()]);
  pool = openPgPool(pg.url);
}, 180_000);

afterAll(async () => {
  for (const w of running) await w.stop().catch(() => {});
  await pool?.end();
  for (const s of stores) s.close();
  await rabbit?.dispose();
  await pg?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

describe.skipIf(skip)('a grid whose meters stop together, spread over partitions of two workers', () => {
  it('is one outage, and the silences it explains stay quiet in every partition', async () => {
    const workers = [await startWorker('0-1'), await startWorker('2-3')];
    const committed = () => workers.reduce((n, w) => n + w.stats().committedReadings, 0);
    const conn = await amqp.connect(rabbit.amqpUrl);
    const ch = await conn.createConfirmChannel();
    const start = Date.now() - 30 * HOUR;
    let sent = 0;
    // Hourly readings, one payload each; hours 8–19 without the stopping meters.
    for (let h = 0; h < 24; h++) {
      const quiet = h >= 8 && h < 20;
      meterIds.forEach((meterId, i) => {
        if (quiet && stopping.has(meterId)) return;
        const reading = { ts: new Date(start + h * HOUR).toISOString(), totalLiters: 1000 + i + h * 2 };
        ch.publish(MQTT_EXCHANGE, `meters.${meterId}.readings`, Buffer.from(JSON.stringify(reading)));
        sent++;
      });
      await ch.waitForConfirms();
      await eventually(() => committed() === sent, 30_000);
      // Each worker reads the other partitions' shares once a second: the next hour after it has.
      await new Promise((r) => setTimeout(r, 1_100));
    }
    await conn.close();

    // Every partition held meters of g1 and moved through the twelve quiet hours.
    const { rows } = await pool.query<{ partition: number; meters: number }>(
      `SELECT partition, count(*)::int AS meters FROM cluster_partition_meters WHERE meter_id LIKE 'm-g1-%'
       GROUP BY partition ORDER BY partition`,
    );
    expect(rows.map((r) => r.partition)).toEqual([0, 1, 2, 3]);
    for (let p = 0; p < PARTITIONS; p++)
      expect((await readPartitionClock(pool, p))?.clock).toBeGreaterThanOrEqual(start + 23 * HOUR);

    const raised = await alerts();
    // One outage for g1, and no silence of its meters; the lone silent meter of g2 has its ticket.
    expect(raised.filter((a) => a.rule === OUTAGE_RULE_ID)).toEqual([
      { rule: OUTAGE_RULE_ID, household: outageHouseholdId('g1') },
    ]);
    expect(raised.filter((a) => a.rule === 'meter-silent')).toEqual([
      { rule: 'meter-silent', household: 'h-g2-1' },
    ]);
    // The outage is over once the meters are back (auto-resolved, like one process's).
    const { rows: outage } = await pool.query<{ state: string }>(
      'SELECT state FROM alerts WHERE rule_id = $1',
      [OUTAGE_RULE_ID],
    );
    expect(outage).toEqual([{ state: 'resolved' }]);
  }, 240_000);
});
