import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MQTT_EXCHANGE } from '../cluster/topology.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { eventually, HOUR, tempDataDir, testRegistry } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';
import { SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';
import { spawnClusterWorker, type ClusterWorkerProcess, stopWorkerProcess } from './service-process.ts';

/**
 * A cluster worker process (`careflow start --cluster`) that loses RabbitMQ — the broker's application stopped
 * and started again (`rabbitmqctl stop_app` / `start_app`), as in a broker restart — starts again in the same
 * process once RabbitMQ answers, takes its partitions back from PostgreSQL, and goes on committing readings;
 * nothing published while it was away is lost.
 */
const PARTITIONS = 2;
const registry = testRegistry(5);
const meterIds = (registry.meters ?? []).map((m) => m.id);
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 2 * 24 * HOUR;
const skip = SKIP_POSTGRES || SKIP_RABBITMQ;

let pgServer: Postgres;
let rabbit: RabbitMq;
let db: pg.Pool;
let worker: (ClusterWorkerProcess & { dir: string }) | undefined;
let stderr = '';

beforeAll(async () => {
  if (skip) return;
  [pgServer, rabbit] = await Promise.all([startPostgres(), startRabbitMq()]);
  db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  await importRegistryShared(db, registry);
  const dir = tempDataDir();
  const cluster = { amqpUrl: rabbit.amqpUrl, postgresUrl: pgServer.url, partitions: PARTITIONS };
  worker = { ...(await spawnClusterWorker(dir, cluster, 60_000)), dir };
  worker.proc.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
}, 240_000);

afterAll(async () => {
  if (worker) await stopWorkerProcess(worker);
  await db?.end();
  await rabbit?.dispose();
  await pgServer?.dispose();
}, 120_000);

/** Hourly readings of every meter for hours [from, from + hours), confirmed by RabbitMQ. */
async function publish(from: number, hours: number): Promise<number> {
  const conn = await amqp.connect(rabbit.amqpUrl);
  const ch = await conn.createConfirmChannel();
  let n = 0;
  for (let h = from; h < from + hours; h++)
    meterIds.forEach((meterId, i) => {
      const reading = { ts: new Date(BASE + h * HOUR).toISOString(), totalLiters: 100 + i + h * 4 };
      ch.publish(MQTT_EXCHANGE, `meters.${meterId}.readings`, Buffer.from(JSON.stringify(reading)));
      n++;
    });
  await ch.waitForConfirms();
  await conn.close();
  return n;
}

const stored = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM inbox')).rows[0]!.n;

describe.skipIf(skip)('a cluster worker that loses RabbitMQ', () => {
  it('starts again in the same process when RabbitMQ is back, and loses nothing', async () => {
    const pid = worker!.proc.pid;
    let sent = await publish(0, 6);
    await eventually(async () => (await stored()) === sent, 30_000, 'the first readings');

    rabbit.ctl('stop_app');
    await eventually(() => /starting again/.test(stderr), 30_000, 'the worker to notice').catch(
      (e: unknown) => {
        throw new Error(`${(e as Error).message}: ${stderr.slice(-3000)}`);
      },
    );
    await new Promise((r) => setTimeout(r, 2_000)); // a try or two while RabbitMQ is down
    rabbit.ctl('start_app');
    await eventually(() => /started again, 1/.test(stderr), 60_000, 'the worker to start again').catch(
      (e: unknown) => {
        throw new Error(`${(e as Error).message}: ${stderr.slice(-4000)}`);
      },
    );

    sent += await publish(6, 6);
    await eventually(async () => (await stored()) === sent, 30_000, 'the readings after the restart');
    expect(worker!.proc.exitCode).toBeNull();
    expect(worker!.proc.pid).toBe(pid);
    // It serves again, on its port.
    const port = Number(/HTTP on port (\d+) \(started again, 1\)/.exec(stderr)![1]);
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { ready: boolean };
    expect(health.ready).toBe(true);
  }, 180_000);
});
